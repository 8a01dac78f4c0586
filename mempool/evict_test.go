package mempool

import (
	"testing"

	"tally/wire"
)

// TestEvictLowestPackage fills a pool bounded to ten one-input
// transactions. Eviction takes whole packages (a transaction with its
// descendants) by their combined fee rate, lowest first, down to 95% of the
// bound; a newcomer with the lowest rate is refused with ErrPoolFull.
func TestEvictLowestPackage(t *testing.T) {
	f := newFixture(t, 12, withConfig(func(c *Config) { c.MaxBytes = 10 * size1 }))
	low := f.pay1(f.coins[0], 2*size1)
	lowChild := f.pay1(out(low, 0), 2*size1)
	mid := f.pay1(f.coins[1], 3*size1)
	f.mustAccept(low)
	f.mustAccept(lowChild)
	f.mustAccept(mid)
	for i := 2; i < 9; i++ {
		f.mustAccept(f.pay1(f.coins[i], 10*size1))
	}
	if s := f.pool.Stats(); s.Count != 10 || s.Bytes != 10*size1 {
		t.Fatalf("full pool %+v", s)
	}
	// A better newcomer pushes the pool over: the 2/B package leaves
	// whole (parent and child), which brings it under 95%.
	rich := f.pay1(f.coins[9], 20*size1)
	f.mustAccept(rich)
	for _, tx := range []*wire.Tx{low, lowChild} {
		if f.pool.Has(tx.TxID()) {
			t.Fatalf("%s not evicted", tx.TxID())
		}
		if r := f.removedAs(tx.TxID()); r != RemovedEvicted {
			t.Fatalf("%s removed as %q", tx.TxID(), r)
		}
	}
	if !f.pool.Has(mid.TxID()) || !f.pool.Has(rich.TxID()) {
		t.Fatal("eviction went further than 95%")
	}
	if s := f.pool.Stats(); s.Count != 9 || s.Bytes > s.MaxBytes/100*95 {
		t.Fatalf("after eviction %+v", s)
	}

	f.mustAccept(f.pay1(f.coins[10], 10*size1)) // full again, not over
	// A newcomer below everything is refused; eviction still runs to 95%
	// and takes the 3/B transaction.
	poor := f.pay1(f.coins[11], 1*size1)
	_, err := f.pool.Accept(poor, "")
	requireKind(t, err, ErrPoolFull)
	if f.pool.Has(poor.TxID()) || f.pool.Has(mid.TxID()) {
		t.Fatal("poor or mid still in the pool")
	}
	if s := f.pool.Stats(); s.Bytes > s.MaxBytes {
		t.Fatalf("pool above its bound: %+v", s)
	}
	// The evicted parent's output is free again for a better spend, and
	// the pool's bookkeeping agrees with its entries.
	if _, ok := f.pool.Spender(f.coins[0].Out); ok {
		t.Fatal("evicted transaction still marked as spending its input")
	}
	checkPoolInternals(t, f.pool)
}

// TestEvictKeepsPaidForParent: a parent paying 1/B whose child pays 50/B
// is scored with its descendants and outlives a 3/B transaction.
func TestEvictKeepsPaidForParent(t *testing.T) {
	f := newFixture(t, 12, withConfig(func(c *Config) { c.MaxBytes = 10 * size1 }))
	parent := f.pay1(f.coins[0], 1*size1)
	child := f.pay1(out(parent, 0), 50*size1)
	plain := f.pay1(f.coins[1], 3*size1)
	for _, tx := range []*wire.Tx{parent, child, plain} {
		f.mustAccept(tx)
	}
	for i := 2; i < 9; i++ {
		f.mustAccept(f.pay1(f.coins[i], 10*size1))
	}
	f.mustAccept(f.pay1(f.coins[9], 20*size1))
	if !f.pool.Has(parent.TxID()) || !f.pool.Has(child.TxID()) {
		t.Fatal("parent paid for by its child was evicted")
	}
	if f.pool.Has(plain.TxID()) {
		t.Fatal("3/B transaction kept over a 25/B package")
	}
	checkPoolInternals(t, f.pool)
}

// checkPoolInternals cross-checks the pool's indexes: byte count, spends,
// and the parent/child links.
func checkPoolInternals(t testing.TB, p *Pool) {
	t.Helper()
	p.mu.RLock()
	defer p.mu.RUnlock()
	bytes, spends := 0, 0
	if len(p.known) != len(p.entries) {
		t.Fatalf("known holds %d entries, map %d", len(p.known), len(p.entries))
	}
	for id, e := range p.entries {
		if e.idx >= len(p.known) || p.known[e.idx].e != e {
			t.Fatalf("entry %s not at its position %d", id, e.idx)
		}
		if k := p.known[e.idx]; k.txid != id || k.tx != e.Tx {
			t.Fatalf("known[%d] is not entry %s", e.idx, id)
		}
		bytes += e.Size
		for _, in := range e.Tx.Inputs {
			spends++
			if p.spends[in.Prev] != e {
				t.Fatalf("spends[%v] is not %s", in.Prev, id)
			}
			if parent, ok := p.entries[in.Prev.TxID]; ok {
				if e.parents[parent.TxID] != parent || parent.children[id] != e {
					t.Fatalf("link %s -> %s missing", parent.TxID, id)
				}
			}
		}
		for pid, pe := range e.parents {
			if p.entries[pid] != pe {
				t.Fatalf("%s has a parent %s outside the pool", id, pid)
			}
		}
		for cid, ce := range e.children {
			if p.entries[cid] != ce {
				t.Fatalf("%s has a child %s outside the pool", id, cid)
			}
		}
	}
	if bytes != p.bytes || spends != len(p.spends) {
		t.Fatalf("bytes %d (counted %d), spends %d (counted %d)", p.bytes, bytes, len(p.spends), spends)
	}
}
