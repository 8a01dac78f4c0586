package mining

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/wire"
)

// clockNow is the tests' clock: a month after the dev genesis, so block
// times are never from the future.
func clockNow(p *consensus.Params) time.Time {
	return time.Unix(int64(p.GenesisTime)+30*86400, 0)
}

type env struct {
	p    *consensus.Params
	g    *testgen.Gen
	c    *chain.Chain
	pool *mempool.Pool
	now  func() time.Time
}

// newEnv opens a dev chain in memory with a pool subscribed to it. With
// poolChain the pool sees the chain through that wrapper.
func newEnv(t *testing.T, poolChain func(*chain.Chain) mempool.Chain) *env {
	t.Helper()
	p := testgen.DevParams()
	sigs := consensus.NewSigCache(1 << 16)
	now := func() time.Time { return clockNow(p) }
	c, err := chain.OpenMemory(chain.Config{Params: p, NoSync: true, SigCache: sigs, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var pc mempool.Chain = c
	if poolChain != nil {
		pc = poolChain(c)
	}
	pool := mempool.New(mempool.Config{Chain: pc, SigCache: sigs})
	c.Subscribe(pool.HandleChainEvents)
	return &env{p: p, g: testgen.New(p), c: c, pool: pool, now: now}
}

func (e *env) submit(b *wire.Block) error {
	_, err := e.c.ProcessBlock(b)
	return err
}

func TestGenerate(t *testing.T) {
	e := newEnv(t, nil)
	tx := e.g.Pay(e.g.GenesisSpends(), 2, 5000)
	if _, err := e.pool.Accept(tx, ""); err != nil {
		t.Fatal(err)
	}
	m := New(Config{Chain: e.c, Pool: e.pool, PKH: e.g.PKH, Submit: e.submit, Now: e.now})
	pkh := [20]byte{7}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := m.Generate(ctx, 3, pkh)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || e.c.Tip().Height != 3 || e.c.Tip().ID != ids[2] {
		t.Fatalf("generated %d blocks, tip %d", len(ids), e.c.Tip().Height)
	}
	for i, id := range ids {
		if got, _ := e.c.IDAt(uint64(i + 1)); got != id {
			t.Fatalf("block %d %s is not on the best chain", i+1, id)
		}
		b, err := e.c.Block(id)
		if err != nil {
			t.Fatal(err)
		}
		want := consensus.Subsidy(e.p, uint64(i+1))
		if i == 0 {
			want += 5000
			if len(b.Txs) != 2 || b.Txs[1].TxID() != tx.TxID() {
				t.Fatalf("first block has %d txs, want coinbase and the pool tx", len(b.Txs))
			}
		}
		if cb := b.Txs[0].Outputs[0]; cb.PKH != pkh || cb.Amount != want {
			t.Fatalf("block %d coinbase pays %d to %x, want %d to %x", i+1, cb.Amount, cb.PKH, want, pkh)
		}
	}
	if n := e.pool.Stats().Count; n != 0 {
		t.Fatalf("%d txs left in the pool", n)
	}
}

// TestGenerateSubmitError: Generate stops at the first refused block and
// returns the ids mined so far with the error.
func TestGenerateSubmitError(t *testing.T) {
	e := newEnv(t, nil)
	refuse := errors.New("refused")
	n := 0
	submit := func(b *wire.Block) error {
		n++
		if n == 2 {
			return refuse
		}
		return e.submit(b)
	}
	m := New(Config{Chain: e.c, Pool: e.pool, PKH: e.g.PKH, Submit: submit, Now: e.now})
	ids, err := m.Generate(context.Background(), 3, e.g.PKH)
	if !errors.Is(err, refuse) || len(ids) != 1 {
		t.Fatalf("Generate = %d ids, %v", len(ids), err)
	}
}

func TestRunMinesUntilCancelled(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	var submitted int
	m := New(Config{Chain: e.c, Pool: e.pool, PKH: e.g.PKH, Now: e.now, MinInterval: 5 * time.Millisecond,
		Submit: func(b *wire.Block) error {
			mu.Lock()
			submitted++
			mu.Unlock()
			return e.submit(b)
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for e.c.Tip().Height < 3 {
		if time.Now().After(deadline) {
			t.Fatal("Run mined fewer than 3 blocks in 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	mu.Lock()
	n := submitted
	mu.Unlock()
	if h := e.c.Tip().Height; uint64(n) != h {
		t.Fatalf("submitted %d blocks, tip at %d: every submitted block should connect", n, h)
	}
	// Nothing is submitted after Run returned.
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if submitted != n {
		t.Fatal("blocks submitted after Run returned")
	}
}

// hardChain shows the pool (and so the miner's templates) a target no CPU
// meets in a test, while the chain itself keeps the dev network's easy
// one, so that blocks built elsewhere still connect. It records the tips
// it served.
type hardChain struct {
	*chain.Chain
	p      *consensus.Params
	served atomic.Pointer[wire.Hash]
}

func (h *hardChain) Params() *consensus.Params { return h.p }

func (h *hardChain) Tip() *chain.Snapshot {
	s := h.Chain.Tip()
	id := s.ID
	h.served.Store(&id)
	return s
}

func (h *hardChain) waitServed(t *testing.T, id wire.Hash, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if p := h.served.Load(); p != nil && *p == id {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("no template on %s within %v", id, within)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRunRestartsOnTipChange: while the miner works on a template it
// cannot solve, a block from elsewhere changes the tip; the miner drops
// its work and builds a template on the new tip, within a bounded time
// (its workers look at the tip every 4096 hashes).
func TestRunRestartsOnTipChange(t *testing.T) {
	var hc *hardChain
	e := newEnv(t, func(c *chain.Chain) mempool.Chain {
		hard := *testgen.DevParams()
		hard.GenesisBits = 0x1d00ffff // about 2^32 hashes per block
		hc = &hardChain{Chain: c, p: &hard}
		return hc
	})
	var found atomic.Int32
	m := New(Config{Chain: e.c, Pool: e.pool, PKH: e.g.PKH, Now: e.now, Refresh: time.Hour,
		Submit: func(*wire.Block) error { found.Add(1); return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	hc.waitServed(t, e.p.GenesisID, 5*time.Second)
	parent := e.g.Genesis()
	for i := range 3 {
		// Let the workers get going on the current template.
		start := m.Hashes.Load()
		for m.Hashes.Load() < start+3*4096 {
			time.Sleep(time.Millisecond)
		}
		b := e.g.Block(parent, nil)
		if _, err := e.c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		took := hc.waitServed(t, b.BlockID(), 10*time.Second)
		t.Logf("tip change %d: new template after %v", i+1, took)
		parent = testgen.ParentOf(b, uint64(i+1))
	}
	if n := found.Load(); n != 0 {
		t.Fatalf("%d blocks found at a 2^32 target", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop mid-search after its context was cancelled")
	}
}

// TestGenerateCancelled: Generate gives up with the context's error when
// it cannot find a block in time.
func TestGenerateCancelled(t *testing.T) {
	e := newEnv(t, func(c *chain.Chain) mempool.Chain {
		hard := *testgen.DevParams()
		hard.GenesisBits = 0x1d00ffff
		return &hardChain{Chain: c, p: &hard}
	})
	m := New(Config{Chain: e.c, Pool: e.pool, PKH: e.g.PKH, Now: e.now,
		Submit: func(*wire.Block) error { return errors.New("unexpected block") }})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	ids, err := m.Generate(ctx, 1, e.g.PKH)
	if !errors.Is(err, context.DeadlineExceeded) || len(ids) != 0 {
		t.Fatalf("Generate = %v, %v", ids, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Generate took %v to notice its deadline", d)
	}
}
