package chain

import (
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"time"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// BenchmarkUTXOFlush measures the flush of a full --dbcache 256 cache
// (1.5 million new coins) to an on-disk chain database, with the chain
// locked as in a real flush: taking the coins, sorting them, building the
// batch, writing it.
//
//	go test ./chain -run '^$' -bench BenchmarkUTXOFlush -benchtime 1x
func BenchmarkUTXOFlush(b *testing.B) {
	const coins = 1_500_000
	for range b.N {
		b.StopTimer()
		c, err := Open(b.TempDir(), Config{Params: testgen.DevParams(), Now: crashNow})
		if err != nil {
			b.Fatal(err)
		}
		var op wire.OutPoint
		for i := 0; i < coins; i++ {
			binary.LittleEndian.PutUint64(op.TxID[:], uint64(i)*0x9e3779b97f4a7c15)
			c.utxo.add(op, wire.Coin{Amount: uint64(i), Height: 1}, true)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := c.Flush(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/flush")
		b.StopTimer()
		c.Close()
	}
	b.ReportMetric(coins, "coins")
}

// BenchmarkConnectPastCache connects full blocks of 2,000 payments, each
// spending the oldest coin of a queue (so most inputs are on disk), with
// their signatures in the signature cache (as under assumevalid, every
// other rule checked), on an on-disk database with a 16 MiB UTXO cache
// that fills every 15 blocks or so: "before" reads coins one at a time
// as the rules ask for them, "after" reads ahead in parallel. Modes
// alternate, twice each, on one chain of blocks, so that a shared
// machine's load falls on both.
// TALLY_PASTCACHE_BLOCKS sets the number of blocks (default 60).
//
//	go test ./chain -run '^$' -bench BenchmarkConnectPastCache -benchtime 1x
func BenchmarkConnectPastCache(b *testing.B) {
	nblocks := 60
	if v, err := strconv.Atoi(os.Getenv("TALLY_PASTCACHE_BLOCKS")); err == nil && v > 0 {
		nblocks = v
	}
	p := testgen.DevParams()
	g := testgen.New(p)
	setup, parent, queue := g.FanOut(g.Genesis(), 8000)
	sc := consensus.NewSigCache(nblocks * 2000)
	var blocks []*wire.Block
	for range nblocks {
		txs := g.SpendOldest(&queue, 2000)
		for _, tx := range txs {
			if err := consensus.CheckTxSignatures(tx, tx.TxID(), p.NetworkID, sc); err != nil {
				b.Fatal(err)
			}
		}
		blk := g.Block(parent, txs)
		blocks = append(blocks, blk)
		parent = testgen.ParentOf(blk, parent.Height+1)
	}
	run := func(b *testing.B, before bool) {
		c, err := Open(b.TempDir(), Config{Params: p, Now: crashNow, CacheBytes: 16 << 20, SigCache: sc})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if before {
			c.noReadAhead = true
		}
		for _, s := range setup {
			if _, err := c.ProcessBlock(s); err != nil {
				b.Fatal(err)
			}
		}
		var slowest time.Duration
		t0 := time.Now()
		for _, blk := range blocks {
			t := time.Now()
			if _, err := c.ProcessBlock(blk); err != nil {
				b.Fatal(err)
			}
			slowest = max(slowest, time.Since(t))
		}
		el := time.Since(t0)
		b.ReportMetric(float64(nblocks*2000)/el.Seconds(), "txs/s")
		b.ReportMetric(slowest.Seconds(), "s_slowest_block")
	}
	for range 2 {
		for _, mode := range []string{"before", "after"} {
			b.Run(mode, func(b *testing.B) {
				for range b.N {
					run(b, mode == "before")
				}
			})
		}
	}
}
