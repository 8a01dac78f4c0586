package chain

import (
	"encoding/binary"
	"runtime"
	"testing"

	"tally/wire"
)

// TestUTXOCacheEntryBytes: the cache's count of its memory (entryBytes per
// entry, what --dbcache bounds) stays within a fifth of the heap the
// entries really take, at the sizes where the map's tables are full and
// where they have just split.
func TestUTXOCacheEntryBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a cache of a few million entries")
	}
	for _, n := range []int{1 << 20, 3 << 20} {
		u := newUTXOCache(nil, 0)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var op wire.OutPoint
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint64(op.TxID[:], uint64(i)*0x9e3779b97f4a7c15)
			u.add(op, wire.Coin{Amount: uint64(i), Height: 1}, true)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		real := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		t.Logf("%d entries: %.0f bytes each on the heap, counted as %d", n, real, entryBytes)
		if real > 1.2*entryBytes || real < 0.6*entryBytes {
			t.Errorf("%d entries take %.0f bytes each; the cache counts %d", n, real, entryBytes)
		}
		runtime.KeepAlive(u)
	}
}
