package mempool

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// TestReorgWithLateEvents: a pool transaction is mined in a1, which a
// reorganization to b1-b2 then replaces, with block processing on two
// goroutines and the events of a1 held up by a slow subscriber ahead of
// the pool. The pool must see a1's connect before the reorganization (so
// the transaction ends up back in the pool), and a template asked for
// while the events are late must not leave the transaction out.
func TestReorgWithLateEvents(t *testing.T) {
	f := newFixture(t, 4, fixtureOpt{noSubscribe: true})
	var first atomic.Bool
	slow := func([]chain.Event) {
		if !first.Swap(true) {
			time.Sleep(100 * time.Millisecond) // a1's events only
		}
	}
	f.c.Subscribe(slow)
	f.c.Subscribe(f.pool.HandleChainEvents)

	tx := f.g.Pay(f.coins[:1], 1, 1000)
	if _, err := f.pool.Accept(tx, ""); err != nil {
		t.Fatal(err)
	}
	base := f.tip()
	a1 := f.g.Block(base, []*wire.Tx{tx})
	b1 := f.g.Block(base, nil, func(b *wire.Block) { b.Header.Time++ })
	b2 := f.g.Block(testgen.ParentOf(b1, base.Height+1), nil)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := f.c.ProcessBlock(a1); err != nil {
			t.Error(err)
		}
	}()
	go func() {
		defer wg.Done()
		for f.c.Tip().ID != a1.BlockID() { // a1 committed, its events held up
			time.Sleep(time.Millisecond)
		}
		for _, b := range []*wire.Block{b1, b2} {
			if _, err := f.c.ProcessBlock(b); err != nil {
				t.Error(err)
			}
		}
	}()
	for f.c.Tip().ID != b2.BlockID() {
		time.Sleep(time.Millisecond)
	}
	tmpl := f.pool.NewTemplate(f.g.PKH, chainNow(f.p), 0)
	wg.Wait()
	if tmpl.Header.PrevBlock != b2.BlockID() {
		t.Fatalf("template on %s, want b2", tmpl.Header.PrevBlock)
	}
	if len(tmpl.Txs) != 1 || tmpl.Txs[0].TxID != tx.TxID() {
		t.Fatalf("template built while events were late holds %d transactions, want the one a1 mined and the reorg returned", len(tmpl.Txs))
	}
	if !f.pool.Has(tx.TxID()) {
		t.Fatal("the transaction mined in a1 is not back in the pool after the reorganization")
	}
}

// TestZeroSubsidyMining (adversarial 6): on a network whose subsidy has
// run out, templates still make valid blocks: without fees (a coinbase
// with no outputs) and with fees (a coinbase paying them).
func TestZeroSubsidyMining(t *testing.T) {
	f := newFixture(t, 4)
	// Blocks after the fixture's funding block get no subsidy.
	f.p.InitialSubsidy = 0
	if consensus.Subsidy(f.p, f.c.Tip().Height+1) != 0 {
		t.Fatal("subsidy not 0")
	}
	mineTemplate := func() *Template {
		t.Helper()
		tmpl := f.pool.NewTemplate(f.g.PKH, chainNow(f.p), 0)
		b := tmpl.Block()
		testgen.Solve(&b.Header, f.p)
		if res, err := f.c.ProcessBlock(b); err != nil || res != chain.MainChain {
			t.Fatalf("template block: %v %v", res, err)
		}
		return tmpl
	}
	for range 3 {
		tmpl := mineTemplate()
		if tmpl.CoinbaseValue != 0 || len(tmpl.Coinbase.Outputs) != 0 {
			t.Fatalf("no fees: coinbase value %d with %d outputs, want 0 and none", tmpl.CoinbaseValue, len(tmpl.Coinbase.Outputs))
		}
	}
	tx := f.g.Pay(f.coins[:1], 1, 5000)
	if _, err := f.pool.Accept(tx, ""); err != nil {
		t.Fatal(err)
	}
	tmpl := mineTemplate()
	if tmpl.CoinbaseValue != 5000 || len(tmpl.Coinbase.Outputs) != 1 || len(tmpl.Txs) != 1 {
		t.Fatalf("fees: coinbase value %d with %d outputs and %d txs", tmpl.CoinbaseValue, len(tmpl.Coinbase.Outputs), len(tmpl.Txs))
	}
	mineTemplate()
}
