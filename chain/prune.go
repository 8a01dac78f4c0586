package chain

import (
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/chain/blockfile"
)

// MinKeepBlocks is how many blocks below the tip pruning never deletes
// (SPEC section 4, as Core's 288): enough to reorganize and to serve the
// recent chain.
const MinKeepBlocks = 288

// prune deletes the oldest block and undo files while the files hold
// more than Config.PruneBytes, never a file holding one of the last
// MinKeepBlocks blocks of the best chain, nor the file being written.
// The index entries that point into a file are updated (one batch,
// after which the file goes) before it is removed, so a crash in between
// leaves only a file nothing refers to, which the next pass removes.
func (c *Chain) prune() error {
	if c.cfg.PruneBytes <= 0 || c.blk.Size()+c.rev.Size() <= c.cfg.PruneBytes {
		return nil
	}
	tip := c.tipNode().height
	if tip < MinKeepBlocks {
		return nil
	}
	keepFrom := tip - MinKeepBlocks + 1
	if c.pruneCheck > tip {
		return nil // the last pass found nothing to delete until then
	}
	for c.blk.Size()+c.rev.Size() > c.cfg.PruneBytes {
		bf, rf := c.oldest(c.blk), c.oldest(c.rev)
		if bf == nil && rf == nil {
			return nil
		}
		// Highest block in each candidate file, and the entries to change.
		var bmax, rmax uint64
		var bnodes, rnodes []*node
		c.readMu.RLock()
		for _, n := range c.index {
			if bf != nil && n.hasData && n.data.File == bf.Num {
				bmax = max(bmax, n.height)
				bnodes = append(bnodes, n)
			}
			if rf != nil && n.hasUndo && n.undo.File == rf.Num {
				rmax = max(rmax, n.height)
				rnodes = append(rnodes, n)
			}
		}
		c.readMu.RUnlock()
		dropBlk := bf != nil && bmax < keepFrom
		dropRev := rf != nil && rmax < keepFrom
		if !dropBlk && !dropRev {
			// Wait until the tip has moved past the lowest of them.
			c.pruneCheck = min(bmax, rmax) + MinKeepBlocks
			return nil
		}
		if dropBlk && bmax > c.storedFork().height {
			// After a crash, recovery replays the blocks above the
			// stored UTXO set from their files: move the stored set to
			// the tip before any of them goes (as Core flushes its
			// coins before it prunes).
			if err := c.flushWith(new(leveldb.Batch)); err != nil {
				return err
			}
		}
		batch := new(leveldb.Batch)
		c.readMu.Lock()
		if dropBlk {
			for _, n := range bnodes {
				n.hasData = false
				batch.Put(hashKey(prefixIndex, n.id), encodeIndexEntry(n.entry()))
			}
			c.pruned = max(c.pruned, bmax+1)
		}
		if dropRev {
			for _, n := range rnodes {
				n.hasUndo = false
				batch.Put(hashKey(prefixIndex, n.id), encodeIndexEntry(n.entry()))
			}
		}
		c.readMu.Unlock()
		if err := c.write(batch); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		if dropBlk {
			if err := c.blk.RemoveFile(bf.Num); err != nil {
				return fmt.Errorf("prune: %w", err)
			}
		}
		if dropRev {
			if err := c.rev.RemoveFile(rf.Num); err != nil {
				return fmt.Errorf("prune: %w", err)
			}
		}
	}
	return nil
}

// storedFork returns the last block of the best chain that the stored
// UTXO set descends from: recovery connects the best chain's blocks
// above it from their files.
func (c *Chain) storedFork() *node {
	n := c.diskTip
	for n.height >= uint64(len(c.main)) || c.main[n.height] != n {
		n = n.parent
	}
	return n
}

// oldest returns the oldest file of s other than the one being written.
func (c *Chain) oldest(s *blockfile.Store) *blockfile.FileInfo {
	files := s.Files()
	if len(files) < 2 {
		return nil
	}
	return &files[0]
}

// PruneHeight reports whether pruning is on and the lowest height from
// which every block of the best chain still has its body (as Core's
// getblockchaininfo pruneheight).
func (c *Chain) PruneHeight() (uint64, bool) {
	c.readMu.RLock()
	defer c.readMu.RUnlock()
	return c.pruned, c.cfg.PruneBytes > 0
}
