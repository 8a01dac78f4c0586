package chain

import (
	"encoding/binary"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wire"
)

// BenchmarkUTXOFlush measures the flush of a full --dbcache 256 cache
// (1.5 million new coins) to an on-disk chain database, with the chain
// locked as in a real flush: gathering the batch, then writing it.
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
