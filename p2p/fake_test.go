package p2p

import (
	"math/big"
	"sync"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/wire"
)

// fakeChain is a Chain in memory for the fuzz targets and unit tests: it
// checks what a header and body can prove alone (consensus sanity rules),
// keeps every block it accepts, and follows the most work.
type fakeChain struct {
	p  *consensus.Params
	mu sync.Mutex
	// blocks and infos by id; main is the best chain by height.
	blocks map[wire.Hash]*wire.Block
	infos  map[wire.Hash]chain.BlockInfo
	main   []wire.Hash
	subs   []func([]chain.Event)
}

func newFakeChain(p *consensus.Params) *fakeChain {
	c := &fakeChain{p: p, blocks: make(map[wire.Hash]*wire.Block), infos: make(map[wire.Hash]chain.BlockInfo)}
	g := p.Genesis
	id := g.BlockID()
	c.blocks[id] = g
	c.infos[id] = chain.BlockInfo{ID: id, Header: g.Header, Work: consensus.CalcWork(g.Header.Bits), Valid: true, OnMain: true}
	c.main = []wire.Hash{id}
	return c
}

func (c *fakeChain) Tip() *chain.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	info := c.infos[c.main[len(c.main)-1]]
	return &chain.Snapshot{ID: info.ID, Height: info.Height, Header: info.Header, Work: info.Work}
}

func (c *fakeChain) BlockInfo(id wire.Hash) (chain.BlockInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info, ok := c.infos[id]
	if ok {
		info.OnMain = info.Height < uint64(len(c.main)) && c.main[info.Height] == id
	}
	return info, ok
}

func (c *fakeChain) Block(id wire.Hash) (*wire.Block, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.blocks[id]; ok {
		return b, nil
	}
	return nil, chain.ErrNotFound
}

func (c *fakeChain) Locator() []wire.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []wire.Hash
	for i, step := len(c.main)-1, 1; i > 0; i -= step {
		out = append(out, c.main[i])
		if len(out) > 10 {
			step *= 2
		}
	}
	return append(out, c.main[0])
}

func (c *fakeChain) LocateHeaders(locator []wire.Hash, max int) []wire.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := 0
	for _, id := range locator {
		if info, ok := c.infos[id]; ok && info.Height < uint64(len(c.main)) && c.main[info.Height] == id {
			start = int(info.Height) + 1
			break
		}
	}
	var out []wire.Header
	for h := start; h < len(c.main) && len(out) < max; h++ {
		out = append(out, c.infos[c.main[h]].Header)
	}
	return out
}

// ProcessBlockRaw stores a block whose parent is known after the sanity
// checks; it joins the best chain when it has more work than the tip.
func (c *fakeChain) ProcessBlockRaw(b *wire.Block, _ []byte, _ chain.Source) (chain.Result, error) {
	id := b.BlockID()
	c.mu.Lock()
	if _, ok := c.infos[id]; ok {
		c.mu.Unlock()
		return 0, chain.ErrDuplicate
	}
	parent, ok := c.infos[b.Header.PrevBlock]
	c.mu.Unlock()
	if err := consensus.CheckHeaderSanity(&b.Header, id, c.p); err != nil {
		return 0, err
	}
	if !ok {
		return 0, chain.ErrOrphan
	}
	if err := consensus.CheckBlockSanity(b, b.TxIDs(), parent.Height+1, c.p); err != nil {
		return 0, err
	}
	c.mu.Lock()
	info := chain.BlockInfo{ID: id, Header: b.Header, Height: parent.Height + 1,
		Work: new(big.Int).Add(parent.Work, consensus.CalcWork(b.Header.Bits)), Valid: true}
	c.blocks[id], c.infos[id] = b, info
	tip := c.infos[c.main[len(c.main)-1]]
	if info.Work.Cmp(tip.Work) <= 0 {
		c.mu.Unlock()
		return chain.SideChain, nil
	}
	// Rebuild the best chain back to the fork.
	var branch []wire.Hash
	for cur := info; ; cur = c.infos[cur.Header.PrevBlock] {
		if cur.Height < uint64(len(c.main)) && c.main[cur.Height] == cur.ID {
			break
		}
		branch = append(branch, cur.ID)
	}
	fork := int(info.Height) - len(branch)
	c.main = c.main[:fork+1]
	for i := len(branch) - 1; i >= 0; i-- {
		c.main = append(c.main, branch[i])
	}
	subs := c.subs
	c.mu.Unlock()
	for _, fn := range subs {
		fn([]chain.Event{{Kind: chain.BlockConnected, Block: b, ID: id, Height: info.Height}})
	}
	return chain.MainChain, nil
}

func (c *fakeChain) HasBlock(id wire.Hash) bool {
	_, ok := c.BlockInfo(id)
	return ok
}

// The fake chain runs without --assumevalid.
func (c *fakeChain) AssumeValidID() wire.Hash { return wire.Hash{} }

func (c *fakeChain) AssumeHeaderChain(uint64, []wire.Hash, *big.Int) bool { return false }

func (c *fakeChain) Subscribe(fn func([]chain.Event)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = append(c.subs, fn)
}

// fakePool is a Mempool that accepts a transaction spending outputs it
// knows (the genesis allocation and what it accepted), keeps one
// spending unknown outputs as an orphan (ErrMissingInputs), and refuses
// a transaction without inputs as provably invalid. Its transactions are
// known to compact-block rebuilding (ForEachKnownTx).
type fakePool struct {
	mu    sync.Mutex
	known map[wire.Hash]bool // txids whose outputs may be spent
	pool  map[wire.Hash]*wire.Tx
}

func newFakePool(p *consensus.Params) *fakePool {
	fp := &fakePool{known: make(map[wire.Hash]bool), pool: make(map[wire.Hash]*wire.Tx)}
	fp.known[p.Genesis.Txs[0].TxID()] = true
	return fp
}

var errFakeNoInputs = &consensus.RuleError{Kind: consensus.ErrNoInputs, Description: "no inputs"}

func (fp *fakePool) Accept(tx *wire.Tx, _ string) (*mempool.Entry, error) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	id := tx.TxID()
	if fp.pool[id] != nil {
		return nil, &mempool.RejectError{Kind: mempool.ErrAlreadyKnown, Msg: "already in the pool"}
	}
	if len(tx.Inputs) == 0 {
		return nil, errFakeNoInputs
	}
	for _, in := range tx.Inputs {
		if !fp.known[in.Prev.TxID] {
			return nil, &mempool.RejectError{Kind: mempool.ErrMissingInputs, Msg: "missing inputs"}
		}
	}
	fp.pool[id], fp.known[id] = tx, true
	return &mempool.Entry{Tx: tx, TxID: id, Added: time.Now()}, nil
}

func (fp *fakePool) ForEachKnownTx(fn func(wire.Hash, *wire.Tx) bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for id, tx := range fp.pool {
		if !fn(id, tx) {
			return
		}
	}
}

func (fp *fakePool) Has(txid wire.Hash) bool {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.pool[txid] != nil
}

// fakeNode is a node core (no host) on a fake chain and pool, with a
// 20-block main chain.
func fakeNode(t interface{ Fatal(...any) }) (*Node, *fakeChain, *fakePool, *testgen.Gen, []*wire.Block) {
	g := testgen.New(devParams)
	c := newFakeChain(devParams)
	pool := newFakePool(devParams)
	blocks := buildChain(g, 20)
	for _, b := range blocks {
		if _, err := c.ProcessBlockRaw(b, nil, chain.Source{}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := newCore(Config{Params: devParams, Chain: c, Pool: pool, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	n.self = "self"
	return n, c, pool, g, blocks
}
