package indexes

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/chain"
	"tally/wire"
)

// Reader is what queries read: a *leveldb.DB or a *leveldb.Snapshot.
type Reader interface {
	Get(key []byte, ro *opt.ReadOptions) ([]byte, error)
	NewIterator(slice *util.Range, ro *opt.ReadOptions) iterator.Iterator
}

// Chain is what Catchup needs of the chain state (*chain.Chain).
type Chain interface {
	Tip() *chain.Snapshot
	BlockInfo(id wire.Hash) (chain.BlockInfo, bool)
	IDAt(height uint64) (wire.Hash, bool)
	Block(id wire.Hash) (*wire.Block, error)
	SpentCoins(id wire.Hash) ([]wire.Coin, error)
	DB() *leveldb.DB
	// WriteIndexes writes the index entries the chain holds in memory.
	WriteIndexes() error
}

// Index is an optional index: a chain.Indexer that can build what it
// is missing and say when it is complete.
type Index interface {
	chain.Indexer
	// Catchup builds the index up to the chain's tip (see the package
	// doc); call it after Open, before blocks are processed concurrently.
	Catchup(c Chain) error
	// Ready reports whether Catchup has completed.
	Ready() bool
}

// Catchup runs Catchup on each index in turn.
func Catchup(c Chain, ixs ...Index) error {
	for _, ix := range ixs {
		if err := ix.Catchup(c); err != nil {
			return err
		}
	}
	return nil
}

// ErrCorrupt wraps errors caused by unreadable index entries.
var ErrCorrupt = errors.New("index corrupt")

// markerVersion is the layout version stored in the markers; a different
// stored version makes Catchup rebuild the index (with a log line). Layout
// 1 (before) stored block ids and txids in every entry and kept a second
// table of unspent outputs per address; layout 2, on main for minutes,
// wrote positions as uvarints; see the package doc for layout 3.
const markerVersion = 3

func markerValue(id wire.Hash) []byte {
	return append([]byte{markerVersion}, id[:]...)
}

// impl is the part of an index that the shared catchup logic drives.
type impl interface {
	name() string
	marker() []byte
	prefixes() [][]byte
	// rebuildBlock adds the entries of a best-chain block to batch during
	// Catchup, reading what it needs of the block from c.
	rebuildBlock(c Chain, batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64) error
}

// state is the readiness flag shared by both indexes.
type state struct{ live atomic.Bool }

// Ready reports whether the index is complete and follows the chain.
func (s *state) Ready() bool { return s.live.Load() }

// putMarker records in batch that the index is complete up to id, once the
// index is live (before, Catchup owns the marker).
func (s *state) putMarker(batch *leveldb.Batch, key []byte, id wire.Hash) {
	if s.live.Load() {
		batch.Put(key, markerValue(id))
	}
}

// maxCatchupRounds bounds how often Catchup starts over when the chain
// moved under it.
const maxCatchupRounds = 8

// catchup brings ix up to c's tip and marks it live.
func catchup(c Chain, ix impl, s *state) error {
	db := c.DB()
	// Entries of blocks that recovery connected again at Open are in the
	// chain's index log: on disk first, so that a wipe below sees them.
	if err := c.WriteIndexes(); err != nil {
		return fmt.Errorf("%s: %w", ix.name(), err)
	}
	for round := 0; round < maxCatchupRounds; round++ {
		next, last, err := resume(c, db, ix)
		if err != nil {
			return err
		}
		for {
			tip := c.Tip()
			if next > tip.Height {
				break
			}
			id, ok := c.IDAt(next)
			if !ok {
				break
			}
			b, err := c.Block(id)
			if err != nil {
				return fmt.Errorf("%s: catch up at height %d: %w", ix.name(), next, err)
			}
			if next > 0 && b.Header.PrevBlock != last {
				break // the chain reorganized under us: start over
			}
			batch := new(leveldb.Batch)
			if err := ix.rebuildBlock(c, batch, b, b.TxIDs(), next); err != nil {
				return fmt.Errorf("%s: catch up at height %d: %w", ix.name(), next, err)
			}
			batch.Put(ix.marker(), markerValue(id))
			if err := db.Write(batch, nil); err != nil {
				return fmt.Errorf("%s: write: %w", ix.name(), err)
			}
			last = id
			next++
		}
		if c.Tip().ID == last {
			s.live.Store(true)
			return nil
		}
	}
	return fmt.Errorf("%s: the chain kept changing during catch-up; run Catchup before processing blocks", ix.name())
}

// resume reads ix's marker and returns the next height to index and the id
// of the block before it, wiping the index first when it cannot continue
// (no marker, another layout version, or a marker block that left the best
// chain while the index was off).
func resume(c Chain, db *leveldb.DB, ix impl) (uint64, wire.Hash, error) {
	raw, err := db.Get(ix.marker(), nil)
	switch {
	case err == nil && len(raw) == 1+wire.HashSize && raw[0] == markerVersion:
		var id wire.Hash
		copy(id[:], raw[1:])
		if bi, ok := c.BlockInfo(id); ok && bi.OnMain {
			return bi.Height + 1, id, nil
		}
	case err == nil && len(raw) > 0 && raw[0] != markerVersion:
		slog.Warn(fmt.Sprintf("%s: stored in layout version %d, this version reads layout %d: deleting it and building it again from the block files", ix.name(), raw[0], markerVersion))
	case err != nil && !errors.Is(err, leveldb.ErrNotFound):
		return 0, wire.Hash{}, fmt.Errorf("%s: read marker: %w", ix.name(), err)
	}
	if err := wipe(db, ix); err != nil {
		return 0, wire.Hash{}, err
	}
	return 0, wire.Hash{}, nil
}

// wipe deletes every entry and the marker of ix.
func wipe(db *leveldb.DB, ix impl) error {
	for _, p := range ix.prefixes() {
		for {
			batch := new(leveldb.Batch)
			it := db.NewIterator(util.BytesPrefix(p), nil)
			for it.Next() && batch.Len() < 10000 {
				batch.Delete(append([]byte(nil), it.Key()...))
			}
			it.Release()
			if err := it.Error(); err != nil {
				return fmt.Errorf("%s: wipe: %w", ix.name(), err)
			}
			if batch.Len() == 0 {
				break
			}
			if err := db.Write(batch, nil); err != nil {
				return fmt.Errorf("%s: wipe: %w", ix.name(), err)
			}
		}
	}
	if err := db.Delete(ix.marker(), nil); err != nil {
		return fmt.Errorf("%s: wipe: %w", ix.name(), err)
	}
	return nil
}
