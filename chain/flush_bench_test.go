package chain

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/internal/testgen"
	"tally/wire"
)

// BenchmarkUTXOFlush measures the flush of a full --dbcache 256 cache
// (1.5 million new coins) to an on-disk chain database, both ways:
// "background" (a full cache while blocks connect) and "atomic" (one
// batch, as at shutdown). s/flush is the time until the coins are on
// disk, s_blocking/flush the part that holds up block connection (for
// the background flush, taking the coins out of the cache; the rest is
// written while blocks keep connecting).
//
//	go test ./chain -run '^$' -bench BenchmarkUTXOFlush -benchtime 1x
func BenchmarkUTXOFlush(b *testing.B) {
	const coins = 1_500_000
	for _, mode := range []string{"background", "atomic"} {
		b.Run(mode, func(b *testing.B) {
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
				c.process.Lock()
				if mode == "atomic" {
					err = c.flushWith(new(leveldb.Batch))
				} else {
					err = c.startFlush(new(leveldb.Batch))
				}
				if err != nil {
					b.Fatal(err)
				}
				blocking := time.Since(t0)
				if err := c.finishFlush(true); err != nil {
					b.Fatal(err)
				}
				c.process.Unlock()
				b.ReportMetric(time.Since(t0).Seconds(), "s/flush")
				b.ReportMetric(blocking.Seconds(), "s_blocking/flush")
				b.StopTimer()
				c.Close()
			}
			b.ReportMetric(coins, "coins")
		})
	}
}
