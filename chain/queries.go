package chain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/consensus"
	"tally/wire"
)

// Params returns the chain's consensus parameters.
func (c *Chain) Params() *consensus.Params { return c.p }

// Tip returns the current tip snapshot.
func (c *Chain) Tip() *Snapshot { return c.tipSnap.Load() }

// BlockInfo describes a block in the index.
type BlockInfo struct {
	ID      wire.Hash
	Header  wire.Header
	Height  uint64
	Work    *big.Int // cumulative chain work
	Valid   bool     // connected to a best chain at least once
	Invalid bool
	OnMain  bool
	// Next is the id of the next block on the best chain, if any.
	Next wire.Hash
}

func (c *Chain) infoLocked(n *node) BlockInfo {
	bi := BlockInfo{ID: n.id, Header: n.header, Height: n.height, Work: n.work,
		Valid: n.status&statusValid != 0, Invalid: n.status&statusInvalid != 0, OnMain: c.onMain(n)}
	if bi.OnMain && n.height+1 < uint64(len(c.main)) {
		bi.Next = c.main[n.height+1].id
	}
	return bi
}

// BlockInfo returns what the index knows of id.
func (c *Chain) BlockInfo(id wire.Hash) (BlockInfo, bool) {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	n, ok := c.index[id]
	if !ok {
		// A header known invalid but not persisted (from the network).
		if h, ok := c.invalid.get(id); ok {
			return BlockInfo{ID: id, Header: h.header, Height: h.height, Work: h.work, Invalid: true}, true
		}
		return BlockInfo{}, false
	}
	return c.infoLocked(n), true
}

// HasBlock reports whether the block is stored or known invalid.
func (c *Chain) HasBlock(id wire.Hash) bool {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	if _, ok := c.index[id]; ok {
		return true
	}
	_, ok := c.invalid.get(id)
	return ok
}

// IDAt returns the id of the best-chain block at height.
func (c *Chain) IDAt(height uint64) (wire.Hash, bool) {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	if height >= uint64(len(c.main)) {
		return wire.Hash{}, false
	}
	return c.main[height].id, true
}

// HeadersFrom returns up to count best-chain headers starting at height.
func (c *Chain) HeadersFrom(height uint64, count int) []wire.Header {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	var out []wire.Header
	for h := height; h < uint64(len(c.main)) && len(out) < count; h++ {
		out = append(out, c.main[h].header)
	}
	return out
}

// ErrNotFound is returned for a block that is not stored.
var ErrNotFound = errors.New("block not found")

// Block reads a stored block: ErrNotFound if the chain never stored its
// body, ErrPruned if pruning deleted it (or it lies below the prune
// height without a body).
func (c *Chain) Block(id wire.Hash) (*wire.Block, error) {
	c.readMu.RLock()
	n := c.index[id]
	var snap node // pruning may change n's storage fields under readMu
	if n != nil {
		snap = node{id: n.id, height: n.height, hasData: n.hasData, data: n.data}
	}
	pruned := c.pruned
	c.readMu.RUnlock()
	switch {
	case n == nil:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	case !snap.hasData && snap.height < pruned:
		return nil, fmt.Errorf("%w: block %s at height %d (bodies are kept from height %d)", ErrPruned, id, snap.height, pruned)
	}
	return c.readBlock(&snap)
}

// Coin returns the unspent output at op in the best chain's UTXO set.
func (c *Chain) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	return c.utxo.coin(op)
}

// Locator returns block ids from the tip back to genesis, dense at first
// then doubling the step, as Bitcoin's block locators.
func (c *Chain) Locator() []wire.Hash {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	var out []wire.Hash
	step := uint64(1)
	h := uint64(len(c.main) - 1)
	for {
		out = append(out, c.main[h].id)
		if h == 0 {
			return out
		}
		if len(out) >= 10 {
			step *= 2
		}
		if h < step {
			h = 0
		} else {
			h -= step
		}
	}
}

// LocateHeaders returns up to max best-chain headers after the first
// locator id found on the best chain (after genesis if none is).
func (c *Chain) LocateHeaders(locator []wire.Hash, max int) []wire.Header {
	c.readMu.RLock()
	start := uint64(0)
	for _, id := range locator {
		if n, ok := c.index[id]; ok && c.onMain(n) {
			start = n.height
			break
		}
	}
	c.readMu.RUnlock()
	return c.HeadersFrom(start+1, max)
}

// TipInfo is one entry of getchaintips.
type TipInfo struct {
	ID        wire.Hash
	Height    uint64
	BranchLen uint64
	// Status as Bitcoin Core reports it: "active", "valid-fork",
	// "valid-headers", "invalid".
	Status string
}

// ChainTips returns every block without children, and the active tip.
func (c *Chain) ChainTips() []TipInfo {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	var out []TipInfo
	for _, n := range c.index {
		if len(n.children) > 0 && !(c.onMain(n) && n == c.main[len(c.main)-1]) {
			continue
		}
		t := TipInfo{ID: n.id, Height: n.height}
		fork := n
		for !c.onMain(fork) {
			fork = fork.parent
		}
		t.BranchLen = n.height - fork.height
		switch {
		case n == c.main[len(c.main)-1]:
			t.Status = "active"
		case n.status&statusInvalid != 0:
			t.Status = "invalid"
		case n.status&statusValid != 0:
			t.Status = "valid-fork"
		default:
			t.Status = "valid-headers"
		}
		out = append(out, t)
	}
	return out
}

// UTXOStats summarizes the UTXO set at the tip. It holds the writer lock
// only to flush the UTXO cache and take a database snapshot with the tip
// it belongs to; the scan of the whole set runs on that snapshot while
// blocks keep being processed.
func (c *Chain) UTXOStats() (UTXOStats, error) {
	c.process.Lock()
	if err := c.Err(); err != nil {
		c.process.Unlock()
		return UTXOStats{}, err
	}
	if err := c.flushWith(new(leveldb.Batch)); err != nil {
		c.process.Unlock()
		return UTXOStats{}, c.fail(err)
	}
	snap, err := c.db.GetSnapshot()
	tip := c.tipNode()
	c.process.Unlock()
	if err != nil {
		return UTXOStats{}, fmt.Errorf("snapshot the UTXO set: %w", err)
	}
	defer snap.Release()
	s, err := hashCoins(snap)
	if err != nil {
		return UTXOStats{}, err
	}
	return UTXOStats{Height: tip.height, BestBlock: tip.id, TxOuts: s.Count, TotalAmount: s.Amount, Hash: s.Sum()}, nil
}

// OrphanCount returns the number of blocks waiting for their parent.
func (c *Chain) OrphanCount() int {
	c.process.Lock()
	defer c.process.Unlock()
	return c.orphans.len()
}

// DB returns the chain database, for indexers' reads.
func (c *Chain) DB() *leveldb.DB { return c.db }

// MainChainAt calls fn for each best-chain block id from height up to
// the tip, in order, stopping when fn returns false (index rebuilds).
func (c *Chain) MainChainAt(height uint64, fn func(id wire.Hash, height uint64) bool) {
	for h := height; ; h++ {
		id, ok := c.IDAt(h)
		if !ok || !fn(id, h) {
			return
		}
	}
}

// SpentCoins returns the coins a best-chain block's inputs spent, in
// input order (coinbase excluded): its undo data. Explorers read input
// values and fees from it. A block off the best chain gives ErrNotFound,
// a pruned one ErrPruned.
func (c *Chain) SpentCoins(id wire.Hash) ([]wire.Coin, error) {
	// On the best chain, the undo data was written before the block was
	// appended to c.main under readMu: reading it under readMu is ordered
	// after that write.
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	n := c.index[id]
	if n == nil || !c.onMain(n) {
		return nil, fmt.Errorf("%w: undo data of %s (not on the best chain)", ErrNotFound, id)
	}
	return c.readUndo(n)
}
