package mempool

import (
	"fmt"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wire"
)

// fakeSpend is an output nobody has seen, so spending it makes an orphan.
func fakeSpend(i int) testgen.Spend {
	return testgen.Spend{Out: wire.OutPoint{TxID: wire.H([]byte(fmt.Sprint("missing parent ", i)))}, Amount: 1_000_000}
}

func TestOrphanAcceptedWhenParentArrives(t *testing.T) {
	f := newFixture(t, 4)
	parent := f.g.Pay(f.coins[:1], 2, 1000)
	child := f.pay1(out(parent, 0), 1000)
	grand := f.pay1(out(child, 0), 1000)
	// The grandchild and child arrive first, in reverse order.
	for _, tx := range []*wire.Tx{grand, child} {
		_, err := f.pool.Accept(tx, "peer")
		requireKind(t, err, ErrMissingInputs)
	}
	// An orphan with two missing parents waits for both.
	other := f.pay1(f.coins[1], 1000)
	both := f.g.Pay([]testgen.Spend{out(parent, 1), out(other, 0)}, 1, 2000)
	_, err := f.pool.Accept(both, "peer")
	requireKind(t, err, ErrMissingInputs)
	if n := f.pool.OrphanCount(); n != 3 {
		t.Fatalf("orphans = %d, want 3", n)
	}
	f.mustAccept(parent)
	for _, tx := range []*wire.Tx{child, grand} {
		if !f.pool.Has(tx.TxID()) {
			t.Fatalf("orphan %s not accepted after its parent", tx.TxID())
		}
	}
	if f.pool.Has(both.TxID()) || f.pool.OrphanCount() != 1 {
		t.Fatalf("orphan with a parent still missing: in pool %v, orphans %d", f.pool.Has(both.TxID()), f.pool.OrphanCount())
	}
	f.mustAccept(other)
	if !f.pool.Has(both.TxID()) || f.pool.OrphanCount() != 0 {
		t.Fatal("orphan not accepted after its second parent")
	}
	checkPoolInternals(t, f.pool)
}

// TestOrphanInvalidWhenParentArrives: an orphan is checked in full once
// its parent is known: a bad signature keeps it out.
func TestOrphanInvalidWhenParentArrives(t *testing.T) {
	f := newFixture(t, 2)
	parent := f.pay1(f.coins[0], 1000)
	child := f.pay1(out(parent, 0), 1000)
	child.Inputs[0].Sig[50] ^= 1
	_, err := f.pool.Accept(child, "peer")
	requireKind(t, err, ErrMissingInputs)
	f.mustAccept(parent)
	if f.pool.Has(child.TxID()) || f.pool.OrphanCount() != 0 {
		t.Fatal("orphan with a bad signature accepted or kept")
	}
}

func TestOrphanExpiry(t *testing.T) {
	f := newFixture(t, 2, withConfig(func(c *Config) { c.OrphanTTL = time.Minute }))
	parent := f.pay1(f.coins[0], 1000)
	child := f.pay1(out(parent, 0), 1000)
	_, err := f.pool.Accept(child, "peer")
	requireKind(t, err, ErrMissingInputs)
	f.clock.Advance(59 * time.Second)
	_, err = f.pool.Accept(f.pay1(fakeSpend(1), 1000), "peer")
	requireKind(t, err, ErrMissingInputs)
	if n := f.pool.OrphanCount(); n != 2 {
		t.Fatalf("orphans = %d before expiry, want 2", n)
	}
	// Past the TTL of the first: the next orphan purges it.
	f.clock.Advance(2 * time.Second)
	_, err = f.pool.Accept(f.pay1(fakeSpend(2), 1000), "peer")
	requireKind(t, err, ErrMissingInputs)
	if n := f.pool.OrphanCount(); n != 2 {
		t.Fatalf("orphans = %d after the first expired, want 2", n)
	}
	// The expired orphan's parent arrives: the orphan is gone for good.
	f.mustAccept(parent)
	if f.pool.Has(child.TxID()) {
		t.Fatal("expired orphan accepted")
	}
	// Resubmitted after expiry, it is judged afresh and accepted.
	f.mustAccept(child)
	// Once every orphan is past its TTL, processing any parent clears
	// them.
	f.clock.Advance(2 * time.Minute)
	f.mustAccept(f.pay1(f.coins[1], 1000))
	if n := f.pool.OrphanCount(); n != 0 {
		t.Fatalf("orphans = %d after all expired, want 0", n)
	}
}

func TestOrphanBounds(t *testing.T) {
	const maxOrphans = 30
	f := newFixture(t, 1, withConfig(func(c *Config) { c.MaxOrphans = maxOrphans }))
	perPeer := func() map[string]int {
		f.pool.mu.RLock()
		defer f.pool.mu.RUnlock()
		m := make(map[string]int)
		for _, o := range f.pool.orphans {
			m[o.peer]++
		}
		return m
	}
	has := func(tx *wire.Tx) bool {
		f.pool.mu.RLock()
		defer f.pool.mu.RUnlock()
		_, ok := f.pool.orphans[tx.TxID()]
		return ok
	}
	n := 0
	submit := func(peer string) *wire.Tx {
		n++
		tx := f.pay1(fakeSpend(n), 1000)
		_, err := f.pool.Accept(tx, peer)
		requireKind(t, err, ErrMissingInputs)
		f.clock.Advance(time.Second) // distinct ages: the oldest is well defined
		return tx
	}
	// One peer gets at most 20.
	var fromA []*wire.Tx
	for range 25 {
		fromA = append(fromA, submit("a"))
	}
	if got := perPeer()["a"]; got != maxOrphansPerPeer {
		t.Fatalf("peer a holds %d orphans, want %d", got, maxOrphansPerPeer)
	}
	if has(fromA[24]) || !has(fromA[0]) {
		t.Fatal("over its share, a peer's newest orphans are the ones dropped")
	}
	// Others fill the pool to its total bound, then the oldest go.
	for range 10 {
		submit("b")
	}
	if got := f.pool.OrphanCount(); got != maxOrphans {
		t.Fatalf("orphans = %d, want %d", got, maxOrphans)
	}
	for range 5 {
		submit("c")
	}
	if got := f.pool.OrphanCount(); got != maxOrphans {
		t.Fatalf("orphans = %d after overflow, want %d", got, maxOrphans)
	}
	m := perPeer()
	if m["a"] != 15 || m["b"] != 10 || m["c"] != 5 {
		t.Fatalf("per peer %v, want a:15 b:10 c:5 (a's five oldest evicted)", m)
	}
	for i := range 5 {
		if has(fromA[i]) {
			t.Fatalf("oldest orphan %d kept", i)
		}
	}
	// Under its share again, peer a may add more; the pool being full,
	// the oldest orphan overall (a's sixth) makes room.
	submit("a")
	if got := perPeer()["a"]; got != 15 || has(fromA[5]) {
		t.Fatalf("peer a holds %d, want 15 without its sixth", got)
	}
}

// TestOrphanRacingItsParent: the parent is accepted after the child's
// check found it missing but before the child is kept as an orphan. The
// parent's look for its orphans then finds nothing, so without a second
// check the child would wait for a parent that already came.
func TestOrphanRacingItsParent(t *testing.T) {
	f := newFixture(t, 1)
	parent := f.pay1(f.coins[0], 1000)
	child := f.pay1(out(parent, 0), 1000)
	once := false
	f.pool.testBeforeOrphan = func() {
		if !once {
			once = true
			f.mustAccept(parent)
		}
	}
	if _, err := f.pool.Accept(child, "peer"); err != nil {
		t.Fatalf("child: %v", err)
	}
	if !f.pool.Has(child.TxID()) || f.pool.OrphanCount() != 0 {
		t.Fatalf("child in pool %v, orphans %d: it waits for a parent that arrived", f.pool.Has(child.TxID()), f.pool.OrphanCount())
	}
	checkPoolInternals(t, f.pool)
}
