package chain

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"

	"tally/chain/blockfile"
	"tally/internal/testgen"
	"tally/wire"
)

// BenchmarkChainLength: the time to process a block must not grow with
// the length of the chain. It builds two chains through ProcessBlock, one
// of 1,000 blocks and one of TALLY_BENCH_LENGTH (default 200,000) blocks,
// then processes blocks of four signed transactions (real signatures,
// checked) on each, alternating between the two so that machine noise
// hits both alike, and reports the median time per block at each height,
// their ratio, and the time to open the long chain again (loading its
// index). Run it once:
//
//	go test ./chain -run '^$' -bench BenchmarkChainLength -benchtime 1x
func BenchmarkChainLength(b *testing.B) {
	long := 200_000
	if v, err := strconv.Atoi(os.Getenv("TALLY_BENCH_LENGTH")); err == nil && v > 1000 {
		long = v
	}
	const rounds, perBlock = 200, 4
	p := testgen.DevParams()
	cfg := Config{Params: p, NoSync: true, Now: crashNow, CacheBytes: 64 << 20}

	type side struct {
		c      *Chain
		db     *leveldb.DB
		cfg    Config
		g      *testgen.Gen
		blocks []*wire.Block
		times  []time.Duration
	}
	// reopen flushes and opens s's chain again on the same database, as a
	// restart does, and returns the time New took (the best of three, as
	// LevelDB may still be compacting in the background) and the height.
	reopen := func(s *side) (time.Duration, uint64) {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			if err := s.c.Close(); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			start := time.Now()
			c, err := New(s.db, s.cfg)
			if err != nil {
				b.Fatal(err)
			}
			best = min(best, time.Since(start))
			s.c = c
		}
		return best, s.c.Tip().Height
	}
	var startMid time.Duration
	var heightMid uint64
	build := func(n int) *side {
		db, err := leveldb.Open(storage.NewMemStorage(), &opt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		cfg := cfg
		cfg.BlockFS, cfg.BlocksDir = blockfile.NewMemFS(), "/blocks"
		c, err := New(db, cfg)
		if err != nil {
			b.Fatal(err)
		}
		s := &side{c: c, db: db, cfg: cfg, g: testgen.New(p)}
		parent := s.g.Genesis()
		start := time.Now()
		for h := 1; h <= n; h++ {
			blk := s.g.Block(parent, nil)
			if _, err := s.c.ProcessBlock(blk); err != nil {
				b.Fatal(err)
			}
			parent = testgen.ParentOf(blk, uint64(h))
			if h == n/2 && n > 1000 {
				startMid, heightMid = reopen(s) // start-up at half the length
			}
		}
		b.Logf("built %d blocks in %v", n, time.Since(start).Round(time.Millisecond))
		// The measured blocks: a fan-out of the genesis allocation, then
		// blocks spending its outputs four at a time.
		fan := s.g.Pay(s.g.GenesisSpends(), rounds*perBlock, 0)
		blk := s.g.Block(parent, []*wire.Tx{fan})
		if _, err := s.c.ProcessBlock(blk); err != nil {
			b.Fatal(err)
		}
		parent = testgen.ParentOf(blk, parent.Height+1)
		coins := testgen.Outputs(fan)
		for r := range rounds {
			var txs []*wire.Tx
			for k := range perBlock {
				txs = append(txs, s.g.Pay(coins[r*perBlock+k:r*perBlock+k+1], 1, 10))
			}
			blk := s.g.Block(parent, txs)
			s.blocks = append(s.blocks, blk)
			parent = testgen.ParentOf(blk, parent.Height+1)
		}
		return s
	}
	short, longer := build(1_000), build(long)
	for range b.N {
		for r := range rounds {
			order := []*side{short, longer}
			if r%2 == 1 {
				order = []*side{longer, short} // neither always goes first
			}
			for _, s := range order {
				start := time.Now()
				if _, err := s.c.ProcessBlock(s.blocks[r]); err != nil {
					b.Fatal(err)
				}
				s.times = append(s.times, time.Since(start))
			}
		}
		break // the chains moved on: one measurement per run
	}
	median := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	ms, ml := median(short.times), median(longer.times)
	b.ReportMetric(float64(ms.Nanoseconds()), "ns/block@1k")
	b.ReportMetric(float64(ml.Nanoseconds()), "ns/block@long")
	b.ReportMetric(float64(ml)/float64(ms), "ratio")

	// Start-up: open each chain again on its database.
	openS, hs := reopen(short)
	openL, hl := reopen(longer)
	short.c.Close()
	longer.c.Close()
	per := func(d time.Duration, h uint64) float64 { return float64(d.Nanoseconds()) / float64(h) }
	b.ReportMetric(openL.Seconds(), "s-startup@long")
	b.ReportMetric(per(openL, hl), "ns-startup/block@long")
	b.ReportMetric(per(startMid, heightMid), "ns-startup/block@half")
	b.ReportMetric(per(openS, hs), "ns-startup/block@1k")
	b.Logf("median per block: %v at height ~1,000, %v at height ~%d (ratio %.2f)", ms, ml, long, float64(ml)/float64(ms))
	b.Logf("start-up: %d blocks in %v (%.1f us/block); %d in %v (%.1f us/block); %d in %v (%.1f us/block)",
		hs, openS.Round(time.Millisecond), per(openS, hs)/1000, heightMid, startMid.Round(time.Millisecond), per(startMid, heightMid)/1000,
		hl, openL.Round(time.Millisecond), per(openL, hl)/1000)
}
