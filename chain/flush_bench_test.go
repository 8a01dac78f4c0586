package chain

import (
	"encoding/binary"

	"github.com/syndtr/goleveldb/leveldb"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wire"
)

// BenchmarkUTXOFlush measures the flush of a full --dbcache 256 cache
// (1.5 million new coins) to an on-disk chain database: s/flush until it
// is on disk, s_blocking/flush the part that holds up block connection
// (taking the coins out of the cache into batches; the batches are then
// written in the background).
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
		c.process.Lock()
		if err := c.startFlush(new(leveldb.Batch)); err != nil {
			b.Fatal(err)
		}
		locked := time.Since(t0)
		if err := c.finishFlush(true); err != nil {
			b.Fatal(err)
		}
		c.process.Unlock()
		b.ReportMetric(time.Since(t0).Seconds(), "s/flush")
		b.ReportMetric(locked.Seconds(), "s_blocking/flush")
		b.StopTimer()
		c.Close()
	}
	b.ReportMetric(coins, "coins")
}
