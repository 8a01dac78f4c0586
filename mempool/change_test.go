package mempool

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"tally/chain"
	"tally/internal/testgen"
	"tally/wire"
)

// changeLog records OnChange calls as "+txid" and "-txid reason".
type changeLog struct {
	mu  sync.Mutex
	log []string
}

func (l *changeLog) hook(e *Entry, removed RemoveReason) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if removed == "" {
		l.log = append(l.log, "+"+e.TxID.String()[:8])
	} else {
		l.log = append(l.log, fmt.Sprintf("-%s %s", e.TxID.String()[:8], removed))
	}
}

func (l *changeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.log
	l.log = nil
	return out
}

func sameLog(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

// TestOnChangeReportsEveryChange: additions, mining, then a
// reorganization that puts a mined transaction back (an addition), drops a
// pool transaction whose parent cannot come back (reorg), and leaves the
// untouched pool transaction unreported.
//
//	genesis -> b1 (funding) -> b2 (T, S)
//	                        \-> a2 (D spends T's input) -> a3
func TestOnChangeReportsEveryChange(t *testing.T) {
	var l changeLog
	f := newFixture(t, 4, withConfig(func(c *Config) { c.OnChange = l.hook }))
	l.take() // funding
	base := f.tip()
	tx := f.pay1(f.coins[0], 1000)
	s := f.pay1(f.coins[1], 1000)
	w := f.pay1(f.coins[2], 1000)
	for _, x := range []*wire.Tx{tx, s, w} {
		f.mustAccept(x)
	}
	id := func(h wire.Hash) string { return h.String()[:8] }
	sameLog(t, l.take(), "+"+id(tx.TxID()), "+"+id(s.TxID()), "+"+id(w.TxID()))
	f.mine(tx, s)
	sameLog(t, l.take(), "-"+id(tx.TxID())+" mined", "-"+id(s.TxID())+" mined")
	tc := f.pay1(out(tx, 0), 1000)
	f.mustAccept(tc)
	sameLog(t, l.take(), "+"+id(tc.TxID()))

	d := f.pay1(f.coins[0], 2000) // spends T's input
	a2 := f.g.Block(base, []*wire.Tx{d})
	a3 := f.g.Block(testgen.ParentOf(a2, base.Height+1), nil)
	f.process(a2, chain.SideChain)
	f.process(a3, chain.MainChain)
	sameLog(t, l.take(), "+"+id(s.TxID()), "-"+id(tc.TxID())+" reorg")
	if !f.pool.Has(w.TxID()) || !f.pool.Has(s.TxID()) || f.pool.Has(tc.TxID()) {
		t.Fatal("wrong pool after the reorg")
	}
}

// TestExpire drops transactions older than Expiry with their descendants
// and reports them as expired.
func TestExpire(t *testing.T) {
	var l changeLog
	f := newFixture(t, 3, withConfig(func(c *Config) { c.OnChange = l.hook; c.Expiry = time.Hour }))
	old := f.pay1(f.coins[0], 1000)
	f.mustAccept(old)
	f.clock.Advance(50 * time.Minute)
	child := f.pay1(out(old, 0), 1000)
	young := f.pay1(f.coins[1], 1000)
	f.mustAccept(child)
	f.mustAccept(young)
	l.take()
	if n := f.pool.Expire(); n != 0 {
		t.Fatalf("expired %d before the hour", n)
	}
	f.clock.Advance(11 * time.Minute)
	if n := f.pool.Expire(); n != 2 {
		t.Fatalf("expired %d, want the old one and its child", n)
	}
	if f.pool.Has(old.TxID()) || f.pool.Has(child.TxID()) || !f.pool.Has(young.TxID()) {
		t.Fatal("wrong transactions left")
	}
	if f.removedAs(old.TxID()) != RemovedExpired || f.removedAs(child.TxID()) != RemovedExpired {
		t.Fatalf("OnRemove got %q, %q", f.removedAs(old.TxID()), f.removedAs(child.TxID()))
	}
	if got := l.take(); len(got) != 2 {
		t.Fatalf("OnChange got %v", got)
	}
}
