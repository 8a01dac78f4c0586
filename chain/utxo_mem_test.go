package chain

import (
	"encoding/binary"
	"maps"
	"runtime"
	"strconv"
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

// TestFlushWritesWhatItTook: coins changed after a flush took them (the
// blocks connecting while it is written) are written as they were taken,
// not as they are now: the flush's stored tip is the block it took them
// at.
func TestFlushWritesWhatItTook(t *testing.T) {
	u := newUTXOCache(nil, 1<<20)
	a := wire.OutPoint{TxID: wire.Hash{1}}
	b := wire.OutPoint{TxID: wire.Hash{2}}
	c := wire.OutPoint{TxID: wire.Hash{3}}
	u.add(a, wire.Coin{Amount: 10}, true)
	u.add(b, wire.Coin{Amount: 20}, true)
	u.spend(c) // a stored coin spent
	ops := u.takeDirty()
	if len(ops) != 3 || u.dirtyCount() != 0 {
		t.Fatalf("took %d, %d left dirty", len(ops), u.dirtyCount())
	}
	// The next blocks: a spent, b spent and created again, c created again.
	u.spend(a)
	u.spend(b)
	u.add(b, wire.Coin{Amount: 21}, true)
	u.add(c, wire.Coin{Amount: 30}, true)
	want := map[wire.OutPoint]string{a: "put 10", b: "put 20", c: "delete"}
	got := map[wire.OutPoint]string{}
	batch := u.batch(ops)
	if err := batch.Replay(replayFunc(func(key, val []byte) {
		op, ok := parseCoinKey(key)
		if !ok {
			t.Fatalf("key %x", key)
		}
		if val == nil {
			got[op] = "delete"
			return
		}
		coin, err := decodeCoin(val)
		if err != nil {
			t.Fatal(err)
		}
		got[op] = "put " + strconv.FormatUint(coin.Amount, 10)
	})); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("flush wrote %v, want %v", got, want)
	}
	u.endFlush()
	if coin, ok, _ := u.coin(b); !ok || coin.Amount != 21 {
		t.Fatalf("cache lost the change after the flush took b: %v %v", coin, ok)
	}
	if n := u.dirtyCount(); n != 3 {
		t.Fatalf("%d dirty after the changes, want 3", n)
	}
}

// replayFunc adapts a function to leveldb.BatchReplay (a nil value is a
// delete).
type replayFunc func(key, val []byte)

func (f replayFunc) Put(key, val []byte) { f(key, val) }
func (f replayFunc) Delete(key []byte)   { f(key, nil) }
