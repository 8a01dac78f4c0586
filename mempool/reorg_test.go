package mempool

import (
	"testing"

	"tally/chain"
	"tally/internal/testgen"
	"tally/wire"
)

// process requires b to be accepted with the given result.
func (f *fixture) process(b *wire.Block, want chain.Result) {
	f.t.Helper()
	if res, err := f.c.ProcessBlock(b); err != nil || res != want {
		f.t.Fatalf("block %s: %v %v, want %v", b.BlockID(), res, err, want)
	}
}

// TestReorgReturnsMinedTx:
//
//	genesis -> b1 (funding) -> b2 (T)
//	                        \-> a2 -> a3   (heavier: b2 disconnected)
//
// T leaves the pool when b2 connects and comes back when b2 is
// disconnected; its pool child stays throughout and depends on T again.
func TestReorgReturnsMinedTx(t *testing.T) {
	f := newFixture(t, 4)
	base := f.tip()
	tx := f.pay1(f.coins[0], 1000)
	child := f.pay1(out(tx, 0), 1000)
	f.mustAccept(tx)
	f.mustAccept(child)
	b2 := f.mine(tx)
	if f.pool.Has(tx.TxID()) || !f.pool.Has(child.TxID()) {
		t.Fatal("mined tx still in the pool, or its child gone")
	}
	a2 := f.g.Block(base, nil)
	a3 := f.g.Block(testgen.ParentOf(a2, base.Height+1), nil)
	f.process(a2, chain.SideChain)
	f.process(a3, chain.MainChain)
	if f.c.Tip().ID != a3.BlockID() {
		t.Fatal("no reorg")
	}
	if !f.pool.Has(tx.TxID()) || !f.pool.Has(child.TxID()) {
		t.Fatal("tx of the disconnected block did not come back")
	}
	if info, _ := f.pool.Info(child.TxID()); len(info.Depends) != 1 || info.Depends[0] != tx.TxID() {
		t.Fatalf("child depends on %v, want T", info.Depends)
	}
	if n := f.pool.OrphanCount(); n != 0 {
		t.Fatalf("%d orphans after the reorg", n)
	}
	_, b := f.mineTemplate()
	if len(b.Txs) != 3 {
		t.Fatalf("template after reorg has %d txs, want coinbase, T, child", len(b.Txs))
	}
	_ = b2
}

// TestReorgDoubleSpendRemovesDescendants:
//
//	genesis -> b1 (funding) -> b2 (M)
//	                        \-> a2 (D spends T's input, D2 spends M's input) -> a3
//
// Before: the pool holds T -> TC -> TG, MC (child of the mined M) and an
// unrelated U. After the reorg T and its descendants leave as conflicted,
// M cannot come back (D2 spent its input) so MC leaves too, U stays, and
// nothing is parked as an orphan. Reorganizing back to the b branch returns
// D (still valid there) but not D2.
func TestReorgDoubleSpendRemovesDescendants(t *testing.T) {
	f := newFixture(t, 6)
	base := f.tip()
	tx := f.pay1(f.coins[0], 1000)
	tc := f.pay1(out(tx, 0), 1000)
	tg := f.pay1(out(tc, 0), 1000)
	m := f.pay1(f.coins[1], 1000)
	mc := f.pay1(out(m, 0), 1000)
	u := f.pay1(f.coins[2], 1000)
	for _, x := range []*wire.Tx{tx, tc, tg, m, mc, u} {
		f.mustAccept(x)
	}
	b2 := f.mine(m)

	d := f.g.Tx([]testgen.Spend{f.coins[0]}, []wire.TxOut{{Amount: f.coins[0].Amount - 5000, PKH: [20]byte{1}}})
	d2 := f.g.Tx([]testgen.Spend{f.coins[1]}, []wire.TxOut{{Amount: f.coins[1].Amount - 5000, PKH: [20]byte{2}}})
	a2 := f.g.Block(base, []*wire.Tx{d, d2})
	a3 := f.g.Block(testgen.ParentOf(a2, base.Height+1), nil)
	f.process(a2, chain.SideChain)
	f.process(a3, chain.MainChain)

	for _, x := range []*wire.Tx{tx, tc, tg, m, mc} {
		if f.pool.Has(x.TxID()) {
			t.Fatalf("%s still in the pool after a double spend was mined", x.TxID())
		}
	}
	for _, x := range []*wire.Tx{tx, tc, tg, mc} {
		if r := f.removedAs(x.TxID()); r != RemovedConflicted {
			t.Fatalf("%s removed as %q, want conflicted", x.TxID(), r)
		}
	}
	if !f.pool.Has(u.TxID()) || f.pool.Stats().Count != 1 {
		t.Fatalf("pool holds %d txs, want only U", f.pool.Stats().Count)
	}
	if n := f.pool.OrphanCount(); n != 0 {
		t.Fatalf("%d conflicted txs parked as orphans", n)
	}
	checkPoolInternals(t, f.pool)

	// Back to the b branch: D is valid there, D2 is not.
	b3 := f.g.Block(testgen.ParentOf(b2, base.Height+1), nil)
	b4 := f.g.Block(testgen.ParentOf(b3, base.Height+2), nil)
	f.process(b3, chain.SideChain)
	f.process(b4, chain.MainChain)
	if !f.pool.Has(d.TxID()) || f.pool.Has(d2.TxID()) || !f.pool.Has(u.TxID()) {
		t.Fatalf("after reorganizing back: D %v (want true), D2 %v (want false), U %v",
			f.pool.Has(d.TxID()), f.pool.Has(d2.TxID()), f.pool.Has(u.TxID()))
	}
	if n := f.pool.OrphanCount(); n != 0 {
		t.Fatalf("%d orphans after reorganizing back", n)
	}
	f.mineTemplate()
	if n := f.pool.Stats().Count; n != 0 {
		t.Fatalf("%d txs left after mining the template", n)
	}
}

// TestConnectConflictRemovesDescendants: without a reorg, a block spending
// the input of a pool transaction removes it with its descendants.
func TestConnectConflictRemovesDescendants(t *testing.T) {
	f := newFixture(t, 3)
	tx := f.pay1(f.coins[0], 1000)
	tc := f.pay1(out(tx, 0), 1000)
	u := f.pay1(f.coins[1], 1000)
	for _, x := range []*wire.Tx{tx, tc, u} {
		f.mustAccept(x)
	}
	d := f.g.Tx([]testgen.Spend{f.coins[0]}, []wire.TxOut{{Amount: 1000, PKH: [20]byte{1}}})
	f.mine(d)
	if f.pool.Has(tx.TxID()) || f.pool.Has(tc.TxID()) || !f.pool.Has(u.TxID()) {
		t.Fatal("conflict handling on connect")
	}
	if f.removedAs(tx.TxID()) != RemovedConflicted || f.removedAs(tc.TxID()) != RemovedConflicted {
		t.Fatal("OnRemove not told of the conflicted txs")
	}
	// A mined tx is not reported as removed.
	f.mine(u)
	if f.pool.Has(u.TxID()) || f.removedAs(u.TxID()) != "" {
		t.Fatal("mined tx still in the pool or reported removed")
	}
	checkPoolInternals(t, f.pool)
}

// TestReorgDropsSpendOfLostCoinbase: a pool transaction spending a
// coinbase of the old branch has nothing to spend after a reorg; it
// leaves the pool as conflicted and is not parked as an orphan.
func TestReorgDropsSpendOfLostCoinbase(t *testing.T) {
	f := newFixture(t, 2)
	base := f.tip()
	cbBlock := f.mine()
	for f.c.Tip().Height+1 < base.Height+1+f.p.CoinbaseMaturity {
		f.mine()
	}
	spendCB := f.pay1(out(cbBlock.Txs[0], 0), 1000)
	f.mustAccept(spendCB)
	other := f.pay1(f.coins[0], 1000)
	f.mustAccept(other)

	// A longer branch from base whose coinbases pay elsewhere (testgen's
	// would be identical to the old branch's, txids included).
	parent := base
	var last *wire.Block
	for h, top := base.Height, f.c.Tip().Height; h <= top; h++ {
		last = f.g.Block(parent, nil, func(b *wire.Block) {
			b.Txs[0].Outputs[0].PKH = [20]byte{9}
			b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
		})
		parent = testgen.ParentOf(last, h+1)
		if _, err := f.c.ProcessBlock(last); err != nil {
			t.Fatal(err)
		}
	}
	if f.c.Tip().ID != last.BlockID() {
		t.Fatal("no reorg")
	}
	if f.pool.Has(spendCB.TxID()) || f.removedAs(spendCB.TxID()) != RemovedConflicted {
		t.Fatalf("spend of a coinbase that left the chain kept (%v), or not reported conflicted (%q)", f.pool.Has(spendCB.TxID()), f.removedAs(spendCB.TxID()))
	}
	if !f.pool.Has(other.TxID()) {
		t.Fatal("unrelated tx dropped")
	}
	if n := f.pool.OrphanCount(); n != 0 {
		t.Fatalf("%d orphans", n)
	}
}
