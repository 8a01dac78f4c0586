package chain

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wire"
)

// The connect benchmark's chain: the genesis allocation fanned out over
// benchFanOut outputs in two blocks, then benchBlocks blocks of benchTxs
// one-input two-output transactions, each spending a distinct earlier output
// (oldest first, so later blocks spend outputs of earlier ones) and signed
// on its own.
const (
	benchFanOut = 8000 // testgen.FanOut: 100 txs of benchFanOut/100+1 outputs
	benchBlocks = 10
	benchTxs    = 1500
)

type benchChain struct {
	setup []*wire.Block      // fan-out blocks, connected before the timer starts
	timed []*wire.Block      // the blocks whose connection is measured
	txs   int                // non-coinbase transactions in timed
	sigs  [][]testgen.SigJob // the input signatures of each timed block, with their message
	nsigs int
}

var (
	benchOnce sync.Once
	benchData *benchChain
)

func benchBuild() *benchChain {
	benchOnce.Do(func() {
		p := testgen.DevParams()
		g := testgen.New(p)
		d := &benchChain{}
		setup, parent, queue := g.FanOut(g.Genesis(), benchFanOut)
		d.setup = setup
		add := func(list *[]*wire.Block, txs []*wire.Tx) {
			b := g.Block(parent, txs)
			*list = append(*list, b)
			parent = testgen.ParentOf(b, parent.Height+1)
		}
		for range benchBlocks {
			txs := g.SpendOldest(&queue, benchTxs)
			sigs := testgen.SigJobs(txs, p.NetworkID)
			d.sigs = append(d.sigs, sigs)
			d.nsigs += len(sigs)
			d.txs += len(txs)
			add(&d.timed, txs)
		}
		benchData = d
	})
	return benchData
}

// BenchmarkConnectBlocks measures ProcessBlock on blocks full of signed
// transactions, against LevelDB on disk, with no signature cache, and in the
// same run the raw parallel signature rate over the same signatures:
// txs/s, raw_verifies/s, and pct_of_raw = connect rate / raw rate (the
// median over the blocks, each connected then verified raw at once).
func BenchmarkConnectBlocks(b *testing.B) {
	d := benchBuild()
	for _, bc := range []struct {
		name  string
		cache int
	}{
		{"dbcache=64MiB", 64 << 20},
		{"writethrough", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := testgen.DevParams()
			var connect, raw time.Duration
			var ratios []float64 // raw time / connect time, per block
			b.ResetTimer()
			b.StopTimer()
			for range b.N {
				c, err := Open(b.TempDir(), Config{Params: p, CacheBytes: bc.cache, Now: crashNow})
				if err != nil {
					b.Fatal(err)
				}
				for _, blk := range d.setup {
					if _, err := c.ProcessBlock(blk); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				// Connect a block, then verify its signatures raw: on a
				// shared machine both rates see the same load.
				for i, blk := range d.timed {
					start := time.Now()
					b.StartTimer()
					res, err := c.ProcessBlock(blk)
					b.StopTimer()
					ct := time.Since(start)
					if err != nil || res != MainChain {
						b.Fatalf("block %s: %v %v", blk.BlockID(), res, err)
					}
					rt, err := testgen.VerifyRaw(d.sigs[i])
					if err != nil {
						b.Fatal(err)
					}
					connect += ct
					raw += rt
					ratios = append(ratios, rt.Seconds()/ct.Seconds())
				}
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
			}
			txRate := float64(d.txs*b.N) / connect.Seconds()
			rawRate := float64(d.nsigs*b.N) / raw.Seconds()
			b.ReportMetric(txRate, "txs/s")
			b.ReportMetric(rawRate, "raw_verifies/s")
			// One input per transaction, so a block's raw time over its
			// connect time is connect rate / raw rate. The median over
			// the blocks resists the load swings of a shared machine
			// better than the ratio of the totals.
			slices.Sort(ratios)
			b.ReportMetric(100*ratios[len(ratios)/2], "pct_of_raw")
		})
	}
}
