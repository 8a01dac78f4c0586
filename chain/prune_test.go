package chain

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"tally/internal/testgen"
	"tally/wire"
)

// The pruning tests' chain: small block files, a limit of twenty of
// them, and a chain of many more.
const (
	fileSize = 8 << 10
	limit    = 160 << 10
	nblocks  = 1000
)

// TestPrune grows a chain well past the pruning limit on small block
// files: the files stay within the limit plus one file of each kind, the
// oldest bodies answer ErrPruned, the last MinKeepBlocks and everything
// above the reported prune height still read, a reorganization within
// the kept range works, and all of it survives a restart.
func TestPrune(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	dir := t.TempDir()
	cfg := Config{Params: p, NoSync: true, Now: crashNow, MaxBlockFileSize: fileSize, PruneBytes: limit}
	c, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	blocks := addPayments(t, c, g, nblocks, func(h int) {
		if size := dirSize(t, filepath.Join(dir, "blocks")); size > limit+2*fileSize {
			t.Fatalf("height %d: block files hold %d bytes, over %d plus a file of each kind", h, size, limit)
		}
	})
	check := func(c *Chain) {
		t.Helper()
		ph, on := c.PruneHeight()
		if !on || ph == 0 || ph > nblocks-MinKeepBlocks+1 {
			t.Fatalf("prune height %d (on %v) after %d blocks", ph, on, nblocks)
		}
		if _, err := c.Block(blocks[0].BlockID()); !errors.Is(err, ErrPruned) {
			t.Fatalf("first block: %v, want ErrPruned", err)
		}
		for h := ph; h <= nblocks; h++ {
			if _, err := c.Block(blocks[h-1].BlockID()); err != nil {
				t.Fatalf("block %d above the prune height %d: %v", h, ph, err)
			}
		}
	}
	check(c)
	// A heavier branch forking 5 blocks below the tip.
	fork := testgen.ParentOf(blocks[nblocks-6], nblocks-5)
	var branch []*wire.Block
	for i := 0; i < 7; i++ {
		b := g.Block(fork, nil, func(b *wire.Block) { b.Header.Time++ })
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		branch = append(branch, b)
		fork = testgen.ParentOf(b, fork.Height+1)
	}
	if c.Tip().ID != branch[len(branch)-1].BlockID() {
		t.Fatal("reorganization within the kept range did not happen")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Tip().ID != branch[len(branch)-1].BlockID() {
		t.Fatal("tip lost across a restart")
	}
	check(c)
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size()
	}
	return n
}

// TestPruneWhileReading reads blocks while pruning deletes their files
// (go test -race): a reader gets the block or ErrPruned, nothing else.
func TestPruneWhileReading(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	c, err := Open(t.TempDir(), Config{Params: p, NoSync: true, Now: crashNow, MaxBlockFileSize: 4 << 10, PruneBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids := make(chan wire.Hash, 1000)
	done := make(chan error)
	prunedReads := 0
	go func() {
		var seen []wire.Hash
		for id := range ids {
			seen = append(seen, id)
			n := len(seen)
			for _, old := range []wire.Hash{seen[0], seen[n/4], seen[n/3], seen[n/2], seen[n-1]} {
				_, err := c.Block(old)
				if errors.Is(err, ErrPruned) {
					prunedReads++
				} else if err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	parent := g.Genesis()
	for h := 1; h <= 700; h++ {
		b := g.Block(parent, nil)
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		ids <- b.BlockID()
		parent = testgen.ParentOf(b, uint64(h))
	}
	close(ids)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ph, _ := c.PruneHeight(); ph == 0 || prunedReads == 0 {
		t.Fatalf("prune height %d, %d reads of pruned blocks: the test did not read across pruning", ph, prunedReads)
	}
}

// TestPruneKeepsWhatRecoveryReplays: a pruning node whose UTXO cache has
// not been flushed for many blocks loses its process (no Close, so no
// final flush). On restart it replays the blocks above the stored UTXO
// set from their files, so pruning must not have deleted them: pruning
// flushes the cache before it deletes a file holding such a block.
func TestPruneKeepsWhatRecoveryReplays(t *testing.T) {
	p := testgen.DevParams()
	stor := newTestStorage()
	cfg := Config{Params: p, NoSync: true, Now: crashNow, MaxBlockFileSize: fileSize, PruneBytes: limit, CacheBytes: 64 << 20}
	c, db, err := openOn(t, stor, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	blocks := addPayments(t, c, testgen.New(p), nblocks, nil)
	if ph, _ := c.PruneHeight(); ph < 2 {
		t.Fatalf("prune height %d: nothing was pruned, the test proves nothing", ph)
	}
	db.Close() // the process dies: the chain is never closed
	stor.reboot()
	c, db, err = openOn(t, stor, nil, cfg)
	if err != nil {
		t.Fatalf("restart after the crash: %v", err)
	}
	defer db.Close()
	defer c.Close()
	if tip := c.Tip(); tip.ID != blocks[nblocks-1].BlockID() {
		t.Fatalf("restart reached %s at %d, want the tip at %d", tip.ID, tip.Height, nblocks)
	}
	ref, err := OpenMemory(Config{Params: p, Now: crashNow})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, b := range blocks {
		if _, err := ref.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	sameUTXO(t, c, ref)
}

// sameUTXO fails t unless chains a and b have the same UTXO set at the
// same tip.
func sameUTXO(t *testing.T, a, b *Chain) {
	t.Helper()
	sa, err := a.UTXOStats()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.UTXOStats()
	if err != nil {
		t.Fatal(err)
	}
	if sa != sb {
		t.Fatalf("UTXO sets differ:\n%+v\n%+v", sa, sb)
	}
}
