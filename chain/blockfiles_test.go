package chain

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/chain/blockfile"
	"tally/internal/testgen"
	"tally/wire"
)

// addPayments processes n blocks on genesis, each with one payment that
// spends an output of the blocks before it, and calls each (if not nil)
// after every block with its height. It returns the blocks.
func addPayments(t *testing.T, c *Chain, g *testgen.Gen, n int, each func(h int)) []*wire.Block {
	t.Helper()
	var blocks []*wire.Block
	parent, spend := g.Genesis(), g.GenesisSpends()
	for h := 1; h <= n; h++ {
		tx := g.Pay(spend[:1], 2, 100)
		spend = append(spend[1:], testgen.Outputs(tx)...)
		b := g.Block(parent, []*wire.Tx{tx})
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
		parent = testgen.ParentOf(b, uint64(h))
		if each != nil {
			each(h)
		}
	}
	return blocks
}

// filesChain builds a chain of n blocks with a payment each on disk in
// small block files and closes it; it returns the dir and the blocks.
func filesChain(t *testing.T, n int) (string, []*wire.Block) {
	t.Helper()
	p := testgen.DevParams()
	g := testgen.New(p)
	dir := t.TempDir()
	c, err := Open(dir, Config{Params: p, NoSync: true, Now: crashNow, MaxBlockFileSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	blocks := addPayments(t, c, g, n, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, blocks
}

func reopen(t *testing.T, dir string) (*Chain, error) {
	t.Helper()
	return Open(dir, Config{Params: testgen.DevParams(), NoSync: true, Now: crashNow, MaxBlockFileSize: 4 << 10})
}

// TestBodiesInBlockFiles: bodies and undo data are in blocks/, not in
// LevelDB, and every block reads back after a restart.
func TestBodiesInBlockFiles(t *testing.T) {
	dir, blocks := filesChain(t, 40)
	var blkBytes int64
	for _, b := range blocks {
		blkBytes += int64(b.SerializeSize())
	}
	var onDisk int64
	ents, _ := os.ReadDir(filepath.Join(dir, "blocks"))
	nblk := 0
	for _, e := range ents {
		info, _ := e.Info()
		onDisk += info.Size()
		if strings.HasPrefix(e.Name(), "blk") {
			nblk++
		}
	}
	if onDisk < blkBytes || nblk < 2 {
		t.Fatalf("blocks/ holds %d bytes in %d blk files for %d bytes of blocks", onDisk, nblk, blkBytes)
	}
	damage(t, dir, func(db *leveldb.DB) {
		it := db.NewIterator(nil, nil)
		defer it.Release()
		for it.Next() {
			if len(it.Value()) >= blocks[0].SerializeSize() && it.Key()[0] != prefixCoin {
				t.Errorf("LevelDB key %x holds %d bytes: a block body?", it.Key(), len(it.Value()))
			}
		}
		for _, schema1 := range []byte{'b', 'r'} {
			it := db.NewIterator(util.BytesPrefix([]byte{schema1}), nil)
			if it.Next() {
				t.Errorf("schema-1 key %x written", it.Key())
			}
			it.Release()
		}
	})
	c, err := reopen(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, b := range blocks {
		got, err := c.Block(b.BlockID())
		if err != nil || got.BlockID() != b.BlockID() {
			t.Fatalf("block %s: %v", b.BlockID(), err)
		}
	}
	if _, err := c.Block(wire.Hash{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown block: %v", err)
	}
}

// TestTornBlockFileTail: bytes a crash left after the last synced record
// of the block and undo files (a torn append) are dropped on open; the
// chain opens at its tip and extends.
func TestTornBlockFileTail(t *testing.T) {
	dir, blocks := filesChain(t, 30)
	for _, prefix := range []string{"blk", "rev"} {
		last := lastFile(t, filepath.Join(dir, "blocks"), prefix)
		f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{0x7a, 0x11, 0xde, 0x00, 0xff, 0xff, 0, 0, 1, 2}) // a header cut short
		f.Close()
	}
	c, err := reopen(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if tip := c.Tip(); tip.ID != blocks[len(blocks)-1].BlockID() {
		t.Fatalf("tip %s after a torn tail, want %s", tip.ID, blocks[len(blocks)-1].BlockID())
	}
	g := testgen.New(c.Params())
	b := g.Block(testgen.ParentOf(blocks[len(blocks)-1], uint64(len(blocks))), nil)
	if _, err := c.ProcessBlock(b); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = reopen(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Block(b.BlockID()); err != nil {
		t.Fatal(err)
	}
}

// TestLostSyncedBlockData: a block file that lost synced bytes, or holds
// a damaged record, is a clear error, never a silent wrong state.
func TestLostSyncedBlockData(t *testing.T) {
	dir, blocks := filesChain(t, 30)
	last := lastFile(t, filepath.Join(dir, "blocks"), "blk")
	info, _ := os.Stat(last)
	if err := os.Truncate(last, info.Size()-1); err != nil {
		t.Fatal(err)
	}
	if _, err := reopen(t, dir); !errors.Is(err, blockfile.ErrCorrupt) {
		t.Fatalf("open with a synced byte lost: %v", err)
	}

	dir, blocks = filesChain(t, 30)
	first := filepath.Join(dir, "blocks", "blk00000.dat")
	b, _ := os.ReadFile(first)
	b[blockfile.HeaderSize+wire.HeaderSize/2] ^= 1 // inside genesis's header
	os.WriteFile(first, b, 0o600)
	c, err := reopen(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Block(c.Params().GenesisID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged body read: %v", err)
	}
	if _, err := c.Block(blocks[len(blocks)-1].BlockID()); err != nil {
		t.Fatalf("intact body: %v", err)
	}
}

// TestSchema1Refused: a datadir of the version that kept bodies in
// LevelDB is refused with what to do.
func TestSchema1Refused(t *testing.T) {
	dir, _ := filesChain(t, 2)
	damage(t, dir, func(db *leveldb.DB) {
		v, err := db.Get(keyVersion, nil)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(v, 1)
		db.Put(keyVersion, v, nil)
	})
	_, err := reopen(t, dir)
	if !errors.Is(err, ErrOldSchema) || !strings.Contains(err.Error(), "move the data directory aside") {
		t.Fatalf("schema 1 datadir: %v", err)
	}
}

// TestStrayBlockFilesRefused: block files next to a new database belong
// to another node (or a deleted database): refused, not overwritten.
func TestStrayBlockFilesRefused(t *testing.T) {
	dir, _ := filesChain(t, 2)
	other := t.TempDir()
	if err := os.Rename(filepath.Join(dir, "blocks"), filepath.Join(other, "blocks")); err != nil {
		t.Fatal(err)
	}
	if _, err := reopen(t, other); !errors.Is(err, ErrForeignDB) {
		t.Fatalf("new database beside old block files: %v", err)
	}
	if _, err := reopen(t, dir); !errors.Is(err, blockfile.ErrCorrupt) {
		t.Fatalf("database without its block files: %v", err)
	}
}

func lastFile(t *testing.T, dir, prefix string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && e.Name() > last {
			last = e.Name()
		}
	}
	return filepath.Join(dir, last)
}
