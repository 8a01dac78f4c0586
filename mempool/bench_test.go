package mempool

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/consensus"
	"tally/wire"
)

// parallel runs fn(i) for i in [lo, hi) on GOMAXPROCS goroutines and
// returns the wall time.
func parallel(lo, hi int, fn func(i int)) time.Duration {
	var next atomic.Int64
	next.Store(int64(lo))
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= hi {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkAccept measures acceptance of one-input transactions with real
// signatures submitted from GOMAXPROCS goroutines, as gossip validators
// do, and in the same run the raw rate of consensus.VerifySignature over
// the same signatures on as many goroutines. pct_of_raw is the first as a
// percentage of the second: the pool's own overhead is the rest. The two
// are measured in alternating slices of the work, so that other load on
// the machine weighs on both alike.
func BenchmarkAccept(b *testing.B) {
	b.StopTimer()
	f := newFixture(b, b.N)
	txs := make([]*wire.Tx, b.N)
	msgs := make([]wire.Hash, b.N)
	for i := range txs {
		txs[i] = f.pay1(f.coins[i], 1000+uint64(i%500))
		msgs[i] = wire.SigHash(txs[i], f.p.NetworkID)
	}
	accept := func(i int) {
		if _, err := f.pool.Accept(txs[i], "bench"); err != nil {
			b.Error(err)
		}
	}
	verify := func(i int) {
		in := &txs[i].Inputs[0]
		if err := consensus.VerifySignature(&in.PubKey, &in.Sig, msgs[i]); err != nil {
			b.Error(err)
		}
	}
	runtime.GC()
	const rounds = 8
	var acceptTime, rawTime time.Duration
	for k := range rounds {
		lo, hi := b.N*k/rounds, b.N*(k+1)/rounds
		if k%2 == 0 {
			rawTime += parallel(lo, hi, verify)
		}
		b.StartTimer()
		acceptTime += parallel(lo, hi, accept)
		b.StopTimer()
		if k%2 == 1 {
			rawTime += parallel(lo, hi, verify)
		}
	}
	if n := f.pool.Stats().Count; n != b.N {
		b.Fatalf("pool holds %d of %d", n, b.N)
	}
	txps := float64(b.N) / acceptTime.Seconds()
	raw := float64(b.N) / rawTime.Seconds()
	b.ReportMetric(txps, "tx/s")
	b.ReportMetric(raw, "raw_sig/s")
	b.ReportMetric(100*txps/raw, "pct_of_raw")

	// The pool's own cost per transaction, on one goroutine: the same
	// transactions into a second pool whose signature cache already holds
	// them (so no signature is verified), against one verification.
	fresh := New(Config{Chain: f.c, SigCache: f.sigs})
	start := time.Now()
	for _, tx := range txs {
		if _, err := fresh.Accept(tx, ""); err != nil {
			b.Fatal(err)
		}
	}
	overhead := time.Since(start) / time.Duration(b.N)
	n := min(b.N, 1000)
	start = time.Now()
	for i := range n {
		verify(i)
	}
	one := time.Since(start) / time.Duration(n)
	b.ReportMetric(float64(overhead.Nanoseconds())/1000, "pool_us/tx")
	b.ReportMetric(float64(one.Nanoseconds())/1000, "verify_us/sig")
}

// templateBench is a pool of 50,000 transactions, built once.
var templateBench struct {
	once      sync.Once
	checkOnce sync.Once
	f         *fixture
}

const (
	benchPoolTxs  = 50_000
	benchChains   = 1_000 // chains of benchChainLen among them
	benchChainLen = 5
)

func templateFixture(b *testing.B) *fixture {
	templateBench.once.Do(func() {
		start := time.Now()
		single := benchPoolTxs - benchChains*benchChainLen
		f := newFixture(b, single+benchChains, fixtureOpt{keepOpen: true})
		rng := rand.New(rand.NewPCG(50, 0))
		var txs []*wire.Tx
		for i := range single {
			rate := uint64(1 + rng.IntN(100))
			txs = append(txs, f.pay1(f.coins[i], rate*size1))
		}
		for i := range benchChains {
			s := f.coins[single+i]
			for range benchChainLen {
				rate := uint64(1 + rng.IntN(100))
				tx := f.pay1(s, rate*size1)
				txs = append(txs, tx)
				s = out(tx, 0)
			}
		}
		signed := time.Since(start)
		// The signatures are real but are not verified here: the
		// template does not look at them, and verifying 50,000 would
		// only slow the set-up. The benchmark checks one template block
		// in full against the chain instead.
		f.pool.mu.Lock()
		for _, tx := range txs {
			txid := tx.TxID()
			ck, err := f.pool.check(tx, txid)
			if err != nil {
				b.Fatal(err)
			}
			f.pool.insert(tx, txid, ck.fee, ck.parents)
		}
		f.pool.mu.Unlock()
		b.Logf("set-up: %d coins and %d signed txs in %v, pool filled in %v", len(f.coins), len(txs), signed, time.Since(start)-signed)
		templateBench.f = f
	})
	return templateBench.f
}

// BenchmarkTemplate measures NewTemplate over a pool of 50,000
// transactions (1,000 of them in chains of 5) for a full 1,000,000-byte
// block.
func BenchmarkTemplate(b *testing.B) {
	f := templateFixture(b)
	if n := f.pool.Stats().Count; n != benchPoolTxs {
		b.Fatalf("pool holds %d", n)
	}
	now := f.templateNow()
	b.ResetTimer()
	var tmpl *Template
	for i := 0; i < b.N; i++ {
		tmpl = f.pool.NewTemplate(f.g.PKH, now, uint64(i))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/template")
	blk := tmpl.Block()
	b.ReportMetric(float64(len(tmpl.Txs)), "txs/template")
	b.ReportMetric(float64(blk.SerializeSize()), "block_bytes")
	if size := blk.SerializeSize(); size > f.p.MaxBlockBytes || size < f.p.MaxBlockBytes-1000 {
		b.Fatalf("template block of %d bytes, limit %d", size, f.p.MaxBlockBytes)
	}
	checkDepends(b, tmpl)
	templateBench.checkOnce.Do(func() {
		// The template is a valid block. The chain is shared between
		// runs, so the block is checked with the consensus rules rather
		// than processed.
		tip := f.c.Tip()
		txids := blk.TxIDs()
		if err := consensus.CheckBlockSanity(blk, txids, tip.Height+1, f.p); err != nil {
			b.Fatal(err)
		}
		if _, err := consensus.CheckBlockConnect(blk, txids, tip.Height+1, chainView{b, f.c}, f.p); err != nil {
			b.Fatal(err)
		}
		for i := 1; i < len(blk.Txs); i++ {
			if err := consensus.CheckTxSignatures(blk.Txs[i], txids[i], f.p.NetworkID, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
