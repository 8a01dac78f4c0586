package mempool

import (
	"slices"
	"testing"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// templateNow is a header time the fixture's chain accepts for the next
// block.
func (f *fixture) templateNow() time.Time {
	return time.Unix(int64(f.c.Tip().Header.Time)+f.p.TargetSpacing, 0)
}

// mineTemplate builds a template, solves it and processes it; the block
// must become the tip.
func (f *fixture) mineTemplate() (*Template, *wire.Block) {
	f.t.Helper()
	tmpl := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 7)
	b := tmpl.Block()
	testgen.Solve(&b.Header, f.p)
	if res, err := f.c.ProcessBlock(b); err != nil || res != chain.MainChain {
		f.t.Fatalf("template block: %v %v", res, err)
	}
	return tmpl, b
}

// checkDepends verifies that every template transaction comes after the
// pool parents it spends and that Depends lists exactly their indexes.
func checkDepends(t testing.TB, tmpl *Template) {
	t.Helper()
	index := make(map[wire.Hash]int, len(tmpl.Txs))
	for i, tt := range tmpl.Txs {
		var want []int
		for _, in := range tt.Tx.Inputs {
			if j, ok := index[in.Prev.TxID]; ok && !slices.Contains(want, j) {
				want = append(want, j)
			}
		}
		slices.Sort(want)
		if !slices.Equal(tt.Depends, want) {
			t.Fatalf("tx %d %s: Depends %v, want %v", i, tt.TxID, tt.Depends, want)
		}
		index[tt.TxID] = i
	}
}

func TestChainOfUnconfirmed(t *testing.T) {
	f := newFixture(t, 10)
	parent := f.g.Pay(f.coins[:1], 2, 1000)
	pe := f.mustAccept(parent)
	child := f.pay1(out(parent, 0), 1000)
	ce := f.mustAccept(child)
	// A grandchild spending the child and the parent's second output.
	grand := f.g.Pay([]testgen.Spend{out(child, 0), out(parent, 1)}, 1, 2000)
	f.mustAccept(grand)

	info, _ := f.pool.Info(grand.TxID())
	if info.AncestorCount != 3 || info.AncestorSize != pe.Size+ce.Size+grand.SerializeSize() ||
		info.AncestorFees != 4000 || len(info.Depends) != 2 {
		t.Fatalf("grandchild info %+v", info)
	}
	pinfo, _ := f.pool.Info(parent.TxID())
	if len(pinfo.SpentBy) != 2 || pinfo.AncestorCount != 1 {
		t.Fatalf("parent info %+v", pinfo)
	}
	if id, ok := f.pool.Spender(out(parent, 0).Out); !ok || id != child.TxID() {
		t.Fatalf("spender of parent:0 = %v %v", id, ok)
	}
	// A second spend of a pool output paying too little to replace the
	// first is refused.
	if _, err := f.pool.Accept(f.pay1(out(parent, 0), 2*size1), ""); err == nil {
		t.Fatal("double spend of a pool output accepted")
	} else {
		requireKind(t, err, ErrInsufficientFee)
	}
	// Spending a pool output that does not exist is missing inputs.
	bogus := f.pay1(testgen.Spend{Out: wire.OutPoint{TxID: parent.TxID(), Index: 5}, Amount: 1_000_000}, 1000)
	if _, err := f.pool.Accept(bogus, ""); err == nil {
		t.Fatal("spend of a nonexistent pool output accepted")
	} else {
		requireKind(t, err, ErrMissingInputs)
	}

	// Mining the parent keeps the descendants, now with a confirmed input.
	f.mine(parent)
	if f.pool.Has(parent.TxID()) || !f.pool.Has(child.TxID()) || !f.pool.Has(grand.TxID()) {
		t.Fatal("after mining the parent: parent must leave, descendants stay")
	}
	cinfo, _ := f.pool.Info(child.TxID())
	if len(cinfo.Depends) != 0 || cinfo.AncestorCount != 1 {
		t.Fatalf("child info after its parent was mined: %+v", cinfo)
	}
	_, b := f.mineTemplate()
	if len(b.Txs) != 3 || f.pool.Stats().Count != 0 {
		t.Fatalf("template block has %d txs, pool %d left", len(b.Txs), f.pool.Stats().Count)
	}
}

// TestTemplateOrder checks package selection: a low-fee parent with a
// high-fee child is chosen as a package ahead of a middle fee rate, a
// descendant is rescored once its ancestors are in, parents precede
// children, and Depends indexes are right; the mined template is a valid
// block that empties the pool.
func TestTemplateOrder(t *testing.T) {
	f := newFixture(t, 10)
	low := f.g.Pay(f.coins[:1], 2, size1*2)                                  // ~1.5/B
	mid := f.pay1(f.coins[1], size1*5)                                       // 5/B
	high := f.g.Pay([]testgen.Spend{out(low, 0)}, 1, size1*20)               // 20/B; package ~10/B
	two := f.g.Pay([]testgen.Spend{out(high, 0), out(low, 1)}, 1, 2*size1*3) // spends two pool txs
	top := f.pay1(f.coins[2], size1*50)                                      // 50/B
	for _, tx := range []*wire.Tx{low, mid, high, two, top} {
		f.mustAccept(tx)
	}
	tmpl := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 1)
	var order []wire.Hash
	for _, tt := range tmpl.Txs {
		order = append(order, tt.TxID)
	}
	// Once low and high are in, two adds only its own 3.4/B: mid first.
	want := []wire.Hash{top.TxID(), low.TxID(), high.TxID(), mid.TxID(), two.TxID()}
	if !slices.Equal(order, want) {
		t.Fatalf("template order %v, want %v", order, want)
	}
	checkDepends(t, tmpl)
	if d := tmpl.Txs[4].Depends; !slices.Equal(d, []int{1, 2}) {
		t.Fatalf("two's Depends = %v", d)
	}
	var fees uint64
	for _, tt := range tmpl.Txs {
		fees += tt.Fee
	}
	if fees != tmpl.Fees || tmpl.CoinbaseValue != consensus.Subsidy(f.p, tmpl.Height)+fees {
		t.Fatalf("fees %d, template fees %d, coinbase %d", fees, tmpl.Fees, tmpl.CoinbaseValue)
	}
	if tmpl.Height != f.c.Tip().Height+1 || tmpl.Header.PrevBlock != f.c.Tip().ID || tmpl.MinTime != f.c.Tip().MedianTime+1 {
		t.Fatalf("template header %+v height %d", tmpl.Header, tmpl.Height)
	}
	b := tmpl.Block()
	testgen.Solve(&b.Header, f.p)
	if _, err := f.c.ProcessBlock(b); err != nil {
		t.Fatal(err)
	}
	if n := f.pool.Stats().Count; n != 0 {
		t.Fatalf("%d txs left after mining the template", n)
	}
}

// TestTemplateSizeLimit shrinks the block size limit so that only three
// transactions fit: the template takes the three best fee rates.
func TestTemplateSizeLimit(t *testing.T) {
	p := testgen.DevParams()
	small := *p
	var f *fixture
	f = newFixture(t, 10, withConfig(func(c *Config) {
		c.Chain = paramChain{Chain: c.Chain, p: &small}
	}))
	cb := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 0).Coinbase
	small.MaxBlockBytes = wire.HeaderSize + 5 + cb.SerializeSize() + 3*size1 + size1/2
	rates := []uint64{3, 9, 1, 7, 8, 2}
	var best []wire.Hash
	for i, r := range rates {
		tx := f.pay1(f.coins[i], r*size1)
		f.mustAccept(tx)
		if r >= 7 {
			best = append(best, tx.TxID())
		}
	}
	tmpl := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 0)
	var got []wire.Hash
	for _, tt := range tmpl.Txs {
		got = append(got, tt.TxID)
	}
	slices.SortFunc(got, func(a, b wire.Hash) int { return slices.Compare(a[:], b[:]) })
	slices.SortFunc(best, func(a, b wire.Hash) int { return slices.Compare(a[:], b[:]) })
	if !slices.Equal(got, best) {
		t.Fatalf("template took %d txs, want the 3 best", len(got))
	}
	if size := tmpl.Block().SerializeSize(); size > small.MaxBlockBytes {
		t.Fatalf("block %d bytes above limit %d", size, small.MaxBlockBytes)
	}
}

// TestTemplateWhilePoolBehindChain: a block reaches the chain before the
// pool has handled its events (the subscriber runs after the chain's lock
// is released; a miner may read the new tip first). The template must not
// include transactions the block already mined.
func TestTemplateWhilePoolBehindChain(t *testing.T) {
	f := newFixture(t, 10, fixtureOpt{noSubscribe: true})
	var events []chain.Event
	f.c.Subscribe(func(ev []chain.Event) { events = append(events, ev...) })
	a := f.pay1(f.coins[0], 1000)
	b := f.pay1(f.coins[1], 1000)
	f.mustAccept(a)
	f.mustAccept(b)
	f.mine(a)

	tmpl := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 0)
	blk := tmpl.Block()
	testgen.Solve(&blk.Header, f.p)
	if _, err := f.c.ProcessBlock(blk); err != nil {
		t.Fatalf("template built while the pool was behind the chain is invalid: %v", err)
	}
	// The pool catches up with both blocks.
	f.pool.HandleChainEvents(events)
	if f.pool.Has(a.TxID()) || !f.pool.Has(b.TxID()) {
		t.Fatal("pool did not catch up")
	}
	tmpl = f.pool.NewTemplate(f.g.PKH, f.templateNow(), 0)
	if len(tmpl.Txs) != 1 || tmpl.Txs[0].TxID != b.TxID() {
		t.Fatalf("template after catching up has %d txs", len(tmpl.Txs))
	}
}

// TestTemplateRescores: once a package's ancestors are in the template, a
// transaction is scored by what it adds itself. A low-fee child of a
// high-fee parent must not ride on its parent's rate ahead of better
// transactions when space is short.
func TestTemplateRescores(t *testing.T) {
	p := testgen.DevParams()
	small := *p
	f := newFixture(t, 10, withConfig(func(c *Config) {
		c.Chain = paramChain{Chain: c.Chain, p: &small}
	}))
	cb := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 0).Coinbase
	small.MaxBlockBytes = wire.HeaderSize + 5 + cb.SerializeSize() + 2*size1 + size1/2
	parent := f.pay1(f.coins[0], 50*size1)
	child := f.pay1(out(parent, 0), 1*size1)
	other := f.pay1(f.coins[1], 20*size1)
	for _, tx := range []*wire.Tx{parent, child, other} {
		f.mustAccept(tx)
	}
	tmpl := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 0)
	var got []wire.Hash
	for _, tt := range tmpl.Txs {
		got = append(got, tt.TxID)
	}
	if want := []wire.Hash{parent.TxID(), other.TxID()}; !slices.Equal(got, want) {
		t.Fatalf("template %v, want parent then the 20/B transaction %v", got, want)
	}
}
