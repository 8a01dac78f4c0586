package chain

import (
	"errors"
	"slices"
	"testing"
	"time"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// dbFootprint counts the keys and bytes in the chain database.
func dbFootprint(t *testing.T, c *Chain) (keys, bytes int) {
	t.Helper()
	it := c.db.NewIterator(nil, nil)
	defer it.Release()
	for it.Next() {
		keys++
		bytes += len(it.Key()) + len(it.Value())
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return keys, bytes
}

func (c *Chain) indexLen() int {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	return len(c.index)
}

// memoryChain opens a dev-network chain on in-memory storage, closed when
// the test ends, with its parameters and a block generator.
func memoryChain(t *testing.T) (*consensus.Params, *testgen.Gen, *Chain) {
	t.Helper()
	p := testgen.DevParams()
	c, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return p, testgen.New(p), c
}

// extendMain builds n blocks on the tip with testgen and processes them.
func extendMain(t *testing.T, c *Chain, g *testgen.Gen, n int) testgen.Parent {
	t.Helper()
	tip := c.Tip()
	parent := testgen.Parent{ID: tip.ID, Header: tip.Header, Height: tip.Height}
	for range n {
		b := g.Block(parent, nil)
		if res, err := c.ProcessBlock(b); err != nil || res != MainChain {
			t.Fatalf("extend: %v %v", res, err)
		}
		parent = testgen.ParentOf(b, parent.Height+1)
	}
	return parent
}

var gossip = Source{Origin: OriginGossip, Peer: "attacker"}

// TestGossipJunkForkNotStored (adversarial 1): a block forking from
// genesis with valid proof of work at the pow-limit bits (what ASERT gives
// a fork from genesis stamped "now"), full of transactions spending
// outputs that never existed, arrives by gossip: it is refused as low-work
// (not a fault anyone can be blamed for, so not relayed either: only an
// accepted block is), and the tip, the index and the database are as they
// were. The same block from the operator is stored, as submitblock does.
func TestGossipJunkForkNotStored(t *testing.T) {
	p, g, c := memoryChain(t)
	extendMain(t, c, g, 3)
	var junk []*wire.Tx
	for i := range 50 {
		never := wire.OutPoint{TxID: wire.H([]byte{byte(i), 'j'}), Index: 0}
		junk = append(junk, g.Tx([]testgen.Spend{{Out: never, Amount: 1e9}}, []wire.TxOut{{Amount: 1e9, PKH: g.PKH}}))
	}
	fork := g.Block(g.Genesis(), junk, func(b *wire.Block) {
		b.Header.Time = uint64(crashNow().Unix())
		b.Header.Bits = consensus.NextBits(p, 0, p.Genesis.Header.Time)
	})
	if fork.Header.Bits != consensus.BigToCompact(p.PowLimit) {
		t.Logf("fork bits %08x (pow limit %08x)", fork.Header.Bits, consensus.BigToCompact(p.PowLimit))
	}
	tip, idx := c.Tip().ID, c.indexLen()
	keys, bytes := dbFootprint(t, c)
	_, err := c.ProcessBlockRaw(fork, nil, gossip)
	if !errors.Is(err, consensus.ErrLowWork) {
		t.Fatalf("junk fork by gossip: %v, want %q", err, consensus.ErrLowWork)
	}
	if _, m, _ := consensus.Classify(err); m.MarksInvalid || m.PeerFault {
		t.Fatalf("low-work is nobody's fault and marks nothing: %+v", m)
	}
	if c.Tip().ID != tip || c.indexLen() != idx || c.HasBlock(fork.BlockID()) {
		t.Fatal("the junk block changed the tip or the index")
	}
	if k, b := dbFootprint(t, c); k != keys || b != bytes {
		t.Fatalf("the database went from %d keys / %d bytes to %d / %d", keys, bytes, k, b)
	}
	// The operator's own call stores what it is given (SPEC section 4).
	if res, err := c.ProcessBlock(fork); err != nil || res != SideChain {
		t.Fatalf("junk fork from the operator: %v %v, want stored on a side branch", res, err)
	}
}

// TestInvalidHeadersNotPersisted (adversarial 2): 200,000 headers that
// break a header rule (time not after the median time past, and children
// of those) arrive by gossip. The index and the database stay the size
// they were, repeats are answered from the bounded in-memory set, and a
// normal block takes as long to process as before.
func TestInvalidHeadersNotPersisted(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	p, g, c := memoryChain(t)
	extendMain(t, c, g, 2)
	timeBlocks := func() time.Duration {
		var ds []time.Duration
		tip := c.Tip()
		parent := testgen.Parent{ID: tip.ID, Header: tip.Header, Height: tip.Height}
		for range 15 {
			b := g.Block(parent, nil)
			start := time.Now()
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			parent = testgen.ParentOf(b, parent.Height+1)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	before := timeBlocks()
	idx := c.indexLen()
	keys, bytes := dbFootprint(t, c)

	gen := testgen.ParentOf(p.Genesis, 0)
	var prev testgen.Parent
	var first *wire.Block
	for i := range n {
		var b *wire.Block
		if i%2 == 0 {
			// time-too-old on genesis
			b = g.Block(gen, nil, func(b *wire.Block) { b.Header.Time = p.Genesis.Header.Time; b.Header.Nonce = uint64(i) << 8 })
		} else {
			// a child of the invalid header before it: bad-prevblk
			b = g.Block(prev, nil)
		}
		_, err := c.ProcessBlockRaw(b, nil, gossip)
		var re *consensus.RuleError
		if !errors.As(err, &re) || !re.Kind.MarksInvalid() {
			t.Fatalf("invalid header %d: %v", i, err)
		}
		if first == nil {
			first = b
		}
		prev = testgen.ParentOf(b, 1+uint64(i%2))
	}
	if got := c.indexLen(); got != idx {
		t.Fatalf("index grew from %d to %d entries", idx, got)
	}
	if k, b := dbFootprint(t, c); k != keys || b != bytes {
		t.Fatalf("the database went from %d keys / %d bytes to %d / %d", keys, bytes, k, b)
	}
	if c.invalid.len() > maxKnownInvalid {
		t.Fatalf("known-invalid set holds %d, bound %d", c.invalid.len(), maxKnownInvalid)
	}
	// A recent repeat is answered from memory.
	if _, err := c.ProcessBlockRaw(g.Block(prev, nil), nil, gossip); !errors.Is(err, consensus.ErrBadPrevBlock) {
		t.Fatalf("child of a recent invalid header: %v", err)
	}
	after := timeBlocks()
	t.Logf("%d invalid headers; median block time %v before, %v after", n, before, after)
	if after > 3*before+200*time.Microsecond {
		t.Fatalf("block processing slowed from %v to %v", before, after)
	}
}

// TestMutatedOrphanDoesNotShadow (adversarial 3): a mutated copy of an
// orphan (same header, a body that does not match it) comes first, the
// genuine body second, the parent third: the genuine block becomes the
// tip.
func TestMutatedOrphanDoesNotShadow(t *testing.T) {
	_, g, c := memoryChain(t)
	tx := g.Pay(g.GenesisSpends(), 3, 100)
	parent := g.Block(g.Genesis(), []*wire.Tx{tx})
	child := g.Block(testgen.ParentOf(parent, 1), []*wire.Tx{g.Pay(testgen.Outputs(tx)[:1], 1, 10)})
	mutated := &wire.Block{Header: child.Header, Txs: []*wire.Tx{child.Txs[0]}} // a transaction left out
	if mutated.BlockID() != child.BlockID() {
		t.Fatal("the mutation changed the id")
	}
	if _, err := c.ProcessBlockRaw(mutated, nil, gossip); !errors.Is(err, consensus.ErrBadMerkleRoot) {
		t.Fatalf("mutated orphan: %v, want %q", err, consensus.ErrBadMerkleRoot)
	}
	if _, err := c.ProcessBlockRaw(child, nil, Source{Origin: OriginGossip, Peer: "honest"}); !errors.Is(err, ErrOrphan) {
		t.Fatalf("genuine orphan: %v, want %v", err, ErrOrphan)
	}
	if _, err := c.ProcessBlockRaw(parent, nil, Source{Origin: OriginGossip, Peer: "honest"}); err != nil {
		t.Fatalf("parent: %v", err)
	}
	if c.Tip().ID != child.BlockID() {
		t.Fatalf("tip at height %d, want the genuine child", c.Tip().Height)
	}
}

// TestOrphanPoolBounds: one peer fills at most a quarter of the orphan
// pool in count and in bytes, so another peer's orphan survives a flood,
// and the pool never exceeds its bounds.
func TestOrphanPoolBounds(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	c, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, MaxOrphans: 40, MaxOrphanBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	orphanOf := func(i int, txs []*wire.Tx) *wire.Block {
		unknown := testgen.Parent{ID: wire.H([]byte{byte(i), byte(i >> 8), 'o'}), Header: p.Genesis.Header, Height: 5}
		return g.Block(unknown, txs)
	}
	honest := orphanOf(-1, nil)
	if _, err := c.ProcessBlockRaw(honest, nil, Source{Origin: OriginGossip, Peer: "honest"}); !errors.Is(err, ErrOrphan) {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := c.ProcessBlockRaw(orphanOf(i, nil), nil, gossip); !errors.Is(err, ErrOrphan) {
			t.Fatal(err)
		}
		if n := c.OrphanCount(); n > 40 {
			t.Fatalf("orphan pool holds %d, bound 40", n)
		}
	}
	if _, ok := c.OrphanRoot(honest.BlockID()); !ok {
		t.Fatal("a flood from one peer pushed out another peer's orphan")
	}
	if n := c.OrphanCount(); n > 1+40/4 {
		t.Fatalf("one peer holds %d orphans, share %d", n-1, 40/4)
	}
	// Bytes: big orphans (about 60 KB each) from the attacker stay within
	// a quarter of 1 MiB.
	big := make([]*wire.Tx, 0, 300)
	for i := range 300 {
		big = append(big, g.Tx([]testgen.Spend{{Out: wire.OutPoint{TxID: wire.H([]byte{byte(i), 'b'})}, Amount: 2}}, []wire.TxOut{{Amount: 1, PKH: g.PKH}}))
	}
	for i := range 20 {
		if _, err := c.ProcessBlockRaw(orphanOf(1000+i, big), nil, gossip); !errors.Is(err, ErrOrphan) {
			t.Fatal(err)
		}
	}
	c.process.Lock()
	sh := *c.orphans.byPeer[gossip.Peer]
	total := c.orphans.bytes
	c.process.Unlock()
	if 4*sh.bytes > 1<<20 || total > 1<<20 {
		t.Fatalf("attacker holds %d bytes, pool %d, bound %d", sh.bytes, total, 1<<20)
	}
	if _, ok := c.OrphanRoot(honest.BlockID()); !ok {
		t.Fatal("big orphans from one peer pushed out another peer's orphan")
	}
}
