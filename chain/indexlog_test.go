package chain

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/internal/testgen"
	"tally/wire"
)

// countingIndexer counts the blocks whose entries the chain asked for.
type countingIndexer struct{ connected, disconnected int }

func (ix *countingIndexer) ConnectBlock(*leveldb.Batch, *wire.Block, []wire.Hash, uint64, []wire.Coin) {
	ix.connected++
}

func (ix *countingIndexer) DisconnectBlock(*leveldb.Batch, *wire.Block, []wire.Hash, uint64, []wire.Coin) {
	ix.disconnected++
}

// TestIndexLogCountsInCache: the blocks the index log holds count against
// Config.CacheBytes with the UTXO cache, so a node with indexes holds no
// more than --dbcache in memory: with room for exactly the coins of two
// blocks, the index log is what makes the cache full, and the chain
// flushes it (entries built and written) without any query.
func TestIndexLogCountsInCache(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	blocks, _, _ := g.FanOut(g.Genesis(), 2000)
	process := func(c *Chain) {
		t.Helper()
		for _, b := range blocks {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	bare, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, CacheBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	process(bare)
	coins := len(bare.utxo.entries) * entryBytes
	bare.Close()

	ix := &countingIndexer{}
	c, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, CacheBytes: coins + 1, Indexers: []Indexer{ix}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	process(c)
	if c.utxo.full(0) {
		t.Fatalf("the coins alone fill the cache (%d bytes): the test proves nothing", coins)
	}
	if ix.connected != len(blocks) || !c.ixlog.empty() || c.ixlog.bytes() != 0 {
		t.Fatalf("index log not flushed with the cache: %d of %d blocks indexed, %d bytes held",
			ix.connected, len(blocks), c.ixlog.bytes())
	}
	if c.diskTip != c.tipNode() {
		t.Fatal("the UTXO set was not flushed with the index log")
	}
}

// heightIndexer puts one entry per connected block ("T" and its height ->
// its id) and deletes it on disconnect.
type heightIndexer struct{}

func heightKey(h uint64) []byte { return binary.BigEndian.AppendUint64([]byte("T"), h) }

func (heightIndexer) ConnectBlock(batch *leveldb.Batch, b *wire.Block, _ []wire.Hash, h uint64, _ []wire.Coin) {
	id := b.BlockID()
	batch.Put(heightKey(h), id[:])
}

func (heightIndexer) DisconnectBlock(batch *leveldb.Batch, _ *wire.Block, _ []wire.Hash, h uint64, _ []wire.Coin) {
	batch.Delete(heightKey(h))
}

// TestIndexEntriesBothWays: the index log reaches the database the same
// whether it is written as one batch or block by block in a LevelDB
// transaction (flushViaTables), by a query (WriteIndexes) or by a flush.
func TestIndexEntriesBothWays(t *testing.T) {
	defer func(v int) { flushViaTables = v }(flushViaTables)
	for _, way := range []struct {
		name      string
		threshold int
	}{{"batch", 1 << 40}, {"transaction", 0}} {
		t.Run(way.name, func(t *testing.T) {
			flushViaTables = way.threshold
			p := testgen.DevParams()
			g := testgen.New(p)
			c, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, CacheBytes: 64 << 20, Indexers: []Indexer{heightIndexer{}}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			parent := g.Genesis()
			extend := func(n int) {
				for range n {
					b := g.Block(parent, nil)
					if _, err := c.ProcessBlock(b); err != nil {
						t.Fatal(err)
					}
					parent = testgen.ParentOf(b, parent.Height+1)
				}
			}
			check := func(upTo uint64) {
				t.Helper()
				for h := uint64(1); h <= upTo; h++ {
					id, ok := c.IDAt(h)
					raw, err := c.db.Get(heightKey(h), nil)
					if !ok || err != nil || !bytes.Equal(raw, id[:]) {
						t.Fatalf("entry of height %d: %x %v, want %s", h, raw, err, id)
					}
				}
			}
			extend(3)
			if _, err := c.db.Get(heightKey(1), nil); err == nil {
				t.Fatal("entries written with their blocks, not by the log")
			}
			if err := c.WriteIndexes(); err != nil {
				t.Fatal(err)
			}
			check(3)
			extend(3)
			// A heavier branch from height 4 replaces 5 and 6: the log
			// puts, deletes and puts again the same keys.
			fork, ok := c.IDAt(4)
			if !ok {
				t.Fatal("no block at height 4")
			}
			info, _ := c.BlockInfo(fork)
			parent = testgen.Parent{ID: fork, Header: info.Header, Height: 4}
			for range 3 {
				b := g.Block(parent, nil, func(b *wire.Block) { b.Header.Time++ })
				if _, err := c.ProcessBlock(b); err != nil {
					t.Fatal(err)
				}
				parent = testgen.ParentOf(b, parent.Height+1)
			}
			if c.Tip().Height != 7 || c.Tip().ID != parent.ID {
				t.Fatal("no reorganization to the branch")
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			check(7)
			if !c.ixlog.empty() {
				t.Fatal("log not emptied")
			}
		})
	}
}

// TestIndexesRefusePruning: a chain with optional indexes will not prune,
// since writing the index log reads the logged blocks' bodies back.
func TestIndexesRefusePruning(t *testing.T) {
	_, err := OpenMemory(Config{Params: testgen.DevParams(), NoSync: true, Now: crashNow,
		PruneBytes: 1 << 20, Indexers: []Indexer{heightIndexer{}}})
	if err == nil || !strings.Contains(err.Error(), "cannot run with pruning") {
		t.Fatalf("opened with indexes and pruning: %v", err)
	}
}
