package mempool

import (
	"sync"
	"sync/atomic"
	"testing"

	"tally/wire"
)

// TestConcurrentAcceptAndConnect races two submitters offering different
// spends of the same coins (signatures are checked outside the pool's lock,
// so both may pass that stage), a reader building templates, and blocks
// mined from templates. Exactly one spend of each coin wins, and the pool
// stays consistent.
func TestConcurrentAcceptAndConnect(t *testing.T) {
	n := 150
	if raceEnabled {
		n = 40
	}
	f := newFixture(t, n)
	a := make([]*wire.Tx, n)
	b := make([]*wire.Tx, n)
	for i := range n {
		a[i] = f.pay1(f.coins[i], 1000)
		// Neither may replace the other: b pays a higher rate but not
		// a's fee plus its own size (replace-by-fee).
		b[i] = f.pay1(f.coins[i], 1100)
	}
	wins := make([]atomic.Int32, n)
	var wg, submitters sync.WaitGroup
	submit := func(txs []*wire.Tx, peer string) {
		defer submitters.Done()
		for i, tx := range txs {
			if _, err := f.pool.Accept(tx, peer); err == nil {
				wins[i].Add(1)
			}
		}
	}
	stop := make(chan struct{})
	submitters.Add(2)
	go submit(a, "a")
	go submit(b, "b")
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tmpl := f.pool.NewTemplate(f.g.PKH, f.templateNow(), 0)
			checkDepends(t, tmpl)
			f.pool.Entries()
			f.pool.Stats()
		}
	}()
	submitted := make(chan struct{})
	go func() {
		submitters.Wait()
		close(submitted)
	}()
	blocks := 0
	for done := false; !done; {
		select {
		case <-submitted:
			done = true
		default:
		}
		f.mineTemplate()
		blocks++
	}
	close(stop)
	wg.Wait()
	f.mineTemplate()
	t.Logf("%d blocks mined while submitting", blocks)
	for i := range n {
		if w := wins[i].Load(); w != 1 {
			t.Fatalf("coin %d: %d spends accepted", i, w)
		}
		inA := f.pool.Has(a[i].TxID())
		inB := f.pool.Has(b[i].TxID())
		_, minedA, _ := f.c.Coin(out(a[i], 0).Out)
		_, minedB, _ := f.c.Coin(out(b[i], 0).Out)
		count := 0
		for _, x := range []bool{inA, inB, minedA, minedB} {
			if x {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("coin %d: pool a %v b %v, mined a %v b %v", i, inA, inB, minedA, minedB)
		}
	}
	checkPoolInternals(t, f.pool)
}
