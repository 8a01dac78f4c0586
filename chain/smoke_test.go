package chain

import (
	"errors"
	"maps"
	"testing"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

func TestSmokeConnectAndReorg(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	c, err := OpenMemory(Config{Params: p, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b1 := g.Block(g.Genesis(), []*wire.Tx{g.Pay(g.GenesisSpends(), 3, 1000)})
	if res, err := c.ProcessBlock(b1); err != nil || res != MainChain {
		t.Fatalf("b1: %v %v", res, err)
	}
	b2 := g.Block(testgen.ParentOf(b1, 1), nil)
	if _, err := c.ProcessBlock(b2); err != nil {
		t.Fatal(err)
	}
	// side branch from genesis, longer
	a1 := g.Block(g.Genesis(), nil, func(b *wire.Block) { b.Header.Time++ })
	a2 := g.Block(testgen.ParentOf(a1, 1), nil)
	a3 := g.Block(testgen.ParentOf(a2, 2), nil)
	for i, b := range []*wire.Block{a1, a2} {
		if res, err := c.ProcessBlock(b); err != nil || res != SideChain {
			t.Fatalf("a%d: %v %v", i+1, res, err)
		}
	}
	if res, err := c.ProcessBlock(a3); err != nil || res != MainChain {
		t.Fatalf("a3: %v %v", res, err)
	}
	if c.Tip().ID != a3.BlockID() {
		t.Fatal("tip not a3")
	}
	st, err := c.UTXOStats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
}

// TestSourceTxIDs: the chain takes a caller's txids instead of hashing
// (so wrong ones make the body not match its header: nothing of the block
// is stored), and ignores a list of the wrong length.
func TestSourceTxIDs(t *testing.T) {
	_, g, c := memoryChain(t)
	b1 := g.Block(g.Genesis(), []*wire.Tx{g.Pay(g.GenesisSpends(), 3, 1000)})
	wrong := b1.TxIDs()
	wrong[1][0] ^= 1
	if _, err := c.ProcessBlockRaw(b1, nil, Source{Origin: OriginGossip, TxIDs: wrong}); !errors.Is(err, consensus.ErrBadMerkleRoot) {
		t.Fatalf("wrong txids: %v, want a Merkle mismatch", err)
	}
	if _, ok := c.BlockInfo(b1.BlockID()); ok {
		t.Fatal("a body that did not match its header was recorded")
	}
	if res, err := c.ProcessBlockRaw(b1, nil, Source{Origin: OriginGossip, TxIDs: wrong[:1]}); err != nil || res != MainChain {
		t.Fatalf("txids of the wrong length not ignored: %v %v", res, err)
	}
	b2 := g.Block(testgen.ParentOf(b1, 1), []*wire.Tx{g.Pay(testgen.Outputs(b1.Txs[1])[:1], 1, 1000)})
	if res, err := c.ProcessBlockRaw(b2, nil, Source{Origin: OriginGossip, TxIDs: b2.TxIDs()}); err != nil || res != MainChain {
		t.Fatalf("b2 with its txids: %v %v", res, err)
	}
}

// flushedAndFresh opens a memory chain and connects two blocks: the first
// pays the genesis allocation into n+1 outputs and is flushed, so that its
// first n outputs are coins a flush wrote; the second spends the last one
// into two fresh coins (never written). It returns the chain, the
// generator, the n flushed coins, the second block's transaction and the
// parent of the next block.
func flushedAndFresh(t *testing.T, n int) (*Chain, *testgen.Gen, []testgen.Spend, *wire.Tx, testgen.Parent) {
	t.Helper()
	p := testgen.DevParams()
	g := testgen.New(p)
	c, err := OpenMemory(Config{Params: p, NoSync: true, CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tx1 := g.Pay(g.GenesisSpends(), n+1, 1000)
	b1 := g.Block(g.Genesis(), []*wire.Tx{tx1})
	if _, err := c.ProcessBlock(b1); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	tx2 := g.Pay(testgen.Outputs(tx1)[n:], 2, 1000)
	b2 := g.Block(testgen.ParentOf(b1, 1), []*wire.Tx{tx2})
	if _, err := c.ProcessBlock(b2); err != nil {
		t.Fatal(err)
	}
	return c, g, testgen.Outputs(tx1)[:n], tx2, testgen.ParentOf(b2, 2)
}

// TestSpendFreshAndFlushedCoins: a block spends a coin a flush wrote (its
// spend must reach disk) and one created since (dropped from the cache,
// never written): after the next flush both are gone, and the cache keeps
// no entry for the second. connectTip's view spends each coin as the
// rules find it, from the entry it found.
func TestSpendFreshAndFlushedCoins(t *testing.T) {
	c, g, flushedCoins, tx2, parent := flushedAndFresh(t, 1)
	flushed, fresh := flushedCoins[0], testgen.Outputs(tx2)[0]
	b3 := g.Block(parent, []*wire.Tx{g.Pay([]testgen.Spend{flushed, fresh}, 1, 1000)})
	if _, err := c.ProcessBlock(b3); err != nil {
		t.Fatal(err)
	}
	c.utxo.mu.Lock()
	e, kept := c.utxo.entries[flushed.Out]
	_, freshKept := c.utxo.entries[fresh.Out]
	c.utxo.mu.Unlock()
	if !kept || !e.spent || !e.dirty {
		t.Fatalf("the flushed coin's spend is not recorded for the next flush: %+v %v", e, kept)
	}
	if freshKept {
		t.Fatal("the fresh coin's entry was kept after its spend")
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []testgen.Spend{flushed, fresh} {
		if _, ok, err := c.utxo.stored(s.Out); ok || err != nil {
			t.Fatalf("spent coin %v on disk after the flush (err %v)", s.Out, err)
		}
		if _, ok, err := c.Coin(s.Out); ok || err != nil {
			t.Fatalf("spent coin %v unspent (err %v)", s.Out, err)
		}
	}
}

// TestFailedBlockLeavesTheCoins plays a miner whose valid-PoW block fails
// after the rules spent some of its inputs in the cache (connectTip's
// view spends each coin as it finds it): by a later transaction's missing
// input, and by a bad signature found after every rule passed. Each time
// the UTXO cache must be as it was, flags included, for fresh, flushed
// and database-only coins alike, and a valid block spending the same
// coins must then connect.
func TestFailedBlockLeavesTheCoins(t *testing.T) {
	c, g, flushedCoins, tx2, parent := flushedAndFresh(t, 2)
	flushed, onDisk, fresh := flushedCoins[0], flushedCoins[1], testgen.Outputs(tx2)[0]
	c.utxo.mu.Lock()
	delete(c.utxo.entries, onDisk.Out) // as if evicted: only the database has it
	c.utxo.mu.Unlock()

	snapshot := func() map[wire.OutPoint]cacheEntry {
		c.utxo.mu.Lock()
		defer c.utxo.mu.Unlock()
		return maps.Clone(c.utxo.entries)
	}
	before := snapshot()
	spends := []*wire.Tx{
		g.Pay([]testgen.Spend{flushed}, 1, 1000),
		g.Pay([]testgen.Spend{onDisk}, 1, 1000),
		g.Pay([]testgen.Spend{fresh}, 1, 1000),
	}
	missing := g.Pay([]testgen.Spend{{Out: wire.OutPoint{TxID: wire.Hash{7}}, Amount: 5000}}, 1, 1000)
	badSig := g.Pay([]testgen.Spend{testgen.Outputs(tx2)[1]}, 1, 1000)
	badSig.Inputs[0].Sig[5] ^= 1
	for name, txs := range map[string][]*wire.Tx{
		"missing input": append(append([]*wire.Tx{}, spends...), missing),
		"bad signature": append(append([]*wire.Tx{}, spends...), badSig),
	} {
		b := g.Block(parent, txs)
		if _, err := c.ProcessBlock(b); err == nil {
			t.Fatalf("%s: block accepted", name)
		}
		if after := snapshot(); !maps.Equal(before, after) {
			t.Fatalf("%s: the UTXO cache changed: %d entries before, %d after", name, len(before), len(after))
		}
		for _, s := range []testgen.Spend{flushed, onDisk, fresh} {
			if _, ok, err := c.Coin(s.Out); !ok || err != nil {
				t.Fatalf("%s: coin %v gone after the failed block (err %v)", name, s.Out, err)
			}
		}
	}
	if _, err := c.ProcessBlock(g.Block(parent, spends)); err != nil {
		t.Fatalf("the valid block spending the same coins: %v", err)
	}
	for _, s := range []testgen.Spend{flushed, onDisk, fresh} {
		if _, ok, _ := c.Coin(s.Out); ok {
			t.Fatalf("coin %v unspent after the valid block", s.Out)
		}
	}
}
