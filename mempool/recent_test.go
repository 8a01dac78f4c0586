package mempool

import (
	"testing"

	"tally/wire"
)

func knownTxs(p *Pool) map[wire.Hash]*wire.Tx {
	m := map[wire.Hash]*wire.Tx{}
	p.ForEachKnownTx(func(txid wire.Hash, tx *wire.Tx) bool {
		m[txid] = tx
		return true
	})
	return m
}

// TestForEachKnownTx: compact block reconstruction sees the pool, the
// orphans and transactions evicted from the pool, each under its txid.
func TestForEachKnownTx(t *testing.T) {
	f := newFixture(t, 12, withConfig(func(c *Config) { c.MaxBytes = 10 * size1 }))
	low := f.pay1(f.coins[0], 2*size1)
	accepted := []*wire.Tx{low}
	for i := 1; i < 10; i++ {
		accepted = append(accepted, f.pay1(f.coins[i], 10*size1))
	}
	accepted = append(accepted, f.pay1(f.coins[10], 20*size1)) // evicts low, at least
	for _, tx := range accepted {
		f.mustAccept(tx)
	}
	if f.pool.Has(low.TxID()) {
		t.Fatal("low was not evicted")
	}
	orphan := f.pay1(fakeSpend(1), 1000)
	if _, err := f.pool.Accept(orphan, "peer"); err == nil {
		t.Fatal("orphan accepted")
	}
	known := knownTxs(f.pool)
	for _, id := range f.pool.TxIDs() {
		if known[id] == nil {
			t.Fatalf("pool tx %s not listed", id)
		}
	}
	for name, tx := range map[string]*wire.Tx{"evicted": low, "orphan": orphan} {
		if known[tx.TxID()] != tx {
			t.Fatalf("%s transaction not listed", name)
		}
	}
	evicted := 0
	for _, tx := range accepted {
		if !f.pool.Has(tx.TxID()) {
			evicted++
			if known[tx.TxID()] != tx {
				t.Fatalf("evicted %s not listed", tx.TxID())
			}
		}
	}
	if len(known) != f.pool.Stats().Count+evicted+1 {
		t.Fatalf("%d listed, want the pool's %d, %d evicted and the orphan", len(known), f.pool.Stats().Count, evicted)
	}
	// fn returning false stops the walk.
	calls := 0
	f.pool.ForEachKnownTx(func(wire.Hash, *wire.Tx) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("walk went on after false: %d calls", calls)
	}
}

// TestRecentRingBounded: the ring keeps the last recentCap removals.
func TestRecentRingBounded(t *testing.T) {
	var r recentRing
	for i := 0; i < recentCap+10; i++ {
		r.add(wire.Hash{byte(i), byte(i >> 8)}, &wire.Tx{LockTime: uint64(i)})
	}
	if len(r.txs) != recentCap {
		t.Fatalf("ring holds %d", len(r.txs))
	}
	seen := map[uint64]bool{}
	for _, x := range r.txs {
		seen[x.tx.LockTime] = true
	}
	if seen[9] || !seen[10] || !seen[recentCap+9] {
		t.Fatal("ring did not drop the oldest removals")
	}
}
