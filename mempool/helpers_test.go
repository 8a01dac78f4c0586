package mempool

import (
	"errors"
	"sync"
	"testing"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// allKinds is every pool rejection reason, for asserting that an error
// matches exactly one of them.
var allKinds = []ErrorKind{
	ErrAlreadyKnown, ErrLowFee, ErrTooLarge, ErrNonFinal, ErrImmature,
	ErrBadSig, ErrMissingInputs, ErrInvalid, ErrCoinbase, ErrPoolFull, ErrTooLongChain,
	ErrInsufficientFee, ErrTooManyReplacements, ErrSpendsConflictingTx,
}

// fakeClock is an injectable clock for orphan expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// chainNow is the chain's clock in tests: a month after the dev genesis,
// so blocks spaced by the target (600 s) are never from the future.
func chainNow(p *consensus.Params) time.Time {
	return time.Unix(int64(p.GenesisTime)+30*86400, 0)
}

// fixture is a dev chain in memory with a pool subscribed to its events,
// sharing one signature cache, and a generator signing with the dev key.
type fixture struct {
	t     testing.TB
	p     *consensus.Params
	g     *testgen.Gen
	c     *chain.Chain
	pool  *Pool
	sigs  *consensus.SigCache
	clock *fakeClock
	// coins are confirmed outputs to the dev key made by fund.
	coins []testgen.Spend
	// removed records OnRemove calls.
	removedMu sync.Mutex
	removed   map[wire.Hash]RemoveReason
}

type fixtureOpt struct {
	cfg         func(*Config)
	noSubscribe bool
	// keepOpen leaves the chain open after the test (benchmark state
	// built once and shared between runs).
	keepOpen bool
}

func newFixture(t testing.TB, nCoins int, opts ...fixtureOpt) *fixture {
	t.Helper()
	p := testgen.DevParams()
	f := &fixture{t: t, p: p, g: testgen.New(p), sigs: consensus.NewSigCache(1 << 20),
		clock: &fakeClock{now: time.Unix(1_800_000_000, 0)}, removed: make(map[wire.Hash]RemoveReason)}
	c, err := chain.OpenMemory(chain.Config{Params: p, NoSync: true, SigCache: f.sigs,
		Now: func() time.Time { return chainNow(p) }})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	cfg := Config{Chain: c, SigCache: f.sigs, Now: f.clock.Now,
		OnRemove: func(txid wire.Hash, kind RemoveReason, why string) {
			f.removedMu.Lock()
			f.removed[txid] = kind
			f.removedMu.Unlock()
		}}
	subscribe, keepOpen := true, false
	for _, o := range opts {
		keepOpen = keepOpen || o.keepOpen
		if o.cfg != nil {
			o.cfg(&cfg)
		}
		if o.noSubscribe {
			subscribe = false
		}
	}
	if !keepOpen {
		t.Cleanup(func() { c.Close() })
	}
	f.pool = New(cfg)
	if subscribe {
		c.Subscribe(f.pool.HandleChainEvents)
	}
	if nCoins > 0 {
		f.coins = f.fund(nCoins)
	}
	return f
}

func withConfig(fn func(*Config)) fixtureOpt { return fixtureOpt{cfg: fn} }

// tip returns the chain tip as a parent for testgen.
func (f *fixture) tip() testgen.Parent {
	s := f.c.Tip()
	return testgen.Parent{ID: s.ID, Header: s.Header, Height: s.Height}
}

// mine builds a block of txs on the tip, processes it and requires it to
// become the tip.
func (f *fixture) mine(txs ...*wire.Tx) *wire.Block {
	f.t.Helper()
	b := f.g.Block(f.tip(), txs)
	if res, err := f.c.ProcessBlock(b); err != nil || res != chain.MainChain {
		f.t.Fatalf("mine: %v %v", res, err)
	}
	return b
}

// fanOut is the most outputs one funding transaction makes (~84 KB).
const fanOut = 3000

// fund splits the dev genesis allocation into n confirmed outputs to the
// dev key, with as few blocks as the size limits allow.
func (f *fixture) fund(n int) []testgen.Spend {
	f.t.Helper()
	gen := f.g.GenesisSpends()
	if n <= fanOut {
		tx := f.g.Pay(gen, n, 0)
		f.mine(tx)
		return testgen.Outputs(tx)
	}
	k := (n + fanOut - 1) / fanOut
	first := f.g.Pay(gen, k, 0)
	f.mine(first)
	var out []testgen.Spend
	var batch []*wire.Tx
	left := n
	for _, s := range testgen.Outputs(first) {
		m := min(fanOut, left)
		left -= m
		tx := f.g.Pay([]testgen.Spend{s}, m, 0)
		out = append(out, testgen.Outputs(tx)...)
		batch = append(batch, tx)
		if len(batch) == 10 {
			f.mine(batch...)
			batch = nil
		}
	}
	if len(batch) > 0 {
		f.mine(batch...)
	}
	return out
}

// pay1 spends s into one output to the dev key, leaving fee.
func (f *fixture) pay1(s testgen.Spend, fee uint64) *wire.Tx {
	return f.g.Pay([]testgen.Spend{s}, 1, fee)
}

func (f *fixture) mustAccept(tx *wire.Tx) *Entry {
	f.t.Helper()
	e, err := f.pool.Accept(tx, "")
	if err != nil {
		f.t.Fatalf("accept %s: %v", tx.TxID(), err)
	}
	return e
}

func (f *fixture) removedAs(txid wire.Hash) RemoveReason {
	f.removedMu.Lock()
	defer f.removedMu.Unlock()
	return f.removed[txid]
}

// out returns output i of tx as a spend.
func out(tx *wire.Tx, i int) testgen.Spend { return testgen.Outputs(tx)[i] }

// size1 is the encoded size of a one-input, one-output transaction
// without memo.
const size1 = 4 + 1 + wire.InputSize + 1 + wire.OutputSize + 8 + 1

// requireKind fails unless err matches kind and no other pool kind.
func requireKind(t testing.TB, err error, kind ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q does not match %s", err, kind)
	}
	for _, k := range allKinds {
		if k != kind && errors.Is(err, k) {
			t.Fatalf("error %q matches %s as well as %s", err, k, kind)
		}
	}
}

// paramChain serves the chain with other parameters (to shrink the block
// size limit for template tests).
type paramChain struct {
	Chain
	p *consensus.Params
}

func (w paramChain) Params() *consensus.Params { return w.p }
