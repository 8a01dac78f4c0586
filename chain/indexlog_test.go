package chain

import (
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
