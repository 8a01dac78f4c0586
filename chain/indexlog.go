package chain

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/chain/blockfile"
	"tally/wire"
)

// indexLog holds the blocks connected and disconnected since the optional
// indexes (Config.Indexers) were last written, and writes their entries
// with the next UTXO flush (in its LevelDB transaction when the flush is
// large: straight into tables, without the journal), or earlier when a
// query reads the indexes (IndexDB). Building and writing the entries
// with every block cost a block of 2,000 payments about 10 ms of serial
// memtable inserts and wrote each index byte twice (journal, then table);
// holding the entries instead cost 4 ms a block of filling fresh memory,
// and holding the decoded blocks made every garbage collection mark them.
// So the log holds what is flat and at hand, each block's txids and spent
// coins and where its body is, and reads the bodies back from the block
// files when it writes (as Bitcoin Core's index threads do). A crash
// loses nothing: recovery connects the blocks after the last flush again,
// and with them their index entries (Indexer writes are idempotent);
// entries written ahead of the UTXO set are written again, the same.
type indexLog struct {
	ixs    []Indexer
	read   func(blockfile.Pos) (*wire.Block, error)
	mu     sync.Mutex
	blocks []loggedBlock
	size   atomic.Int64 // memory estimate of what blocks holds, 0 when empty
}

// loggedBlock is a block whose index entries are not written yet.
type loggedBlock struct {
	body       blockfile.Pos
	txids      []wire.Hash
	height     uint64
	spent      []wire.Coin
	disconnect bool
}

// loggedBlockBytes is the memory of a loggedBlock beside its slices, and
// coinMemBytes that of a wire.Coin in a slice.
const (
	loggedBlockBytes = 96
	coinMemBytes     = 48
)

// record adds a connected (or, with disconnect, a disconnected) block whose
// body is at pos in the block files.
func (l *indexLog) record(body blockfile.Pos, txids []wire.Hash, height uint64, spent []wire.Coin, disconnect bool) {
	l.mu.Lock()
	l.blocks = append(l.blocks, loggedBlock{body: body, txids: txids, height: height, spent: spent, disconnect: disconnect})
	l.size.Add(int64(loggedBlockBytes + cap(txids)*wire.HashSize + cap(spent)*coinMemBytes))
	l.mu.Unlock()
}

// bytes returns the log's memory estimate.
func (l *indexLog) bytes() int { return int(l.size.Load()) }

// empty reports whether the log holds no block.
func (l *indexLog) empty() bool { return l.size.Load() == 0 }

// drain calls write with the log's entries (nil when it has none) under
// the log's lock, and empties the log if write succeeds. Readers waiting
// in IndexDB see the entries once they are on disk, never in between.
func (l *indexLog) drain(write func(*indexEntries) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.blocks) == 0 {
		return write(nil)
	}
	e := &indexEntries{l: l}
	for _, lb := range l.blocks {
		e.est += int(lb.body.Len) + int(lb.body.Len)/4
	}
	if err := write(e); err != nil {
		return err
	}
	clear(l.blocks)
	l.blocks = l.blocks[:0]
	l.size.Store(0)
	return nil
}

// indexEntries are the entries of the logged blocks, built when they are
// written: all into one batch when they are few, block by block into one
// reused batch when they go into a transaction, so that writing a large
// log never holds all of its entries in memory at once (they take about
// five times the memory the log counts).
type indexEntries struct {
	l   *indexLog
	est int // estimated bytes of the entries' batch records
}

// appendTo adds every entry, in block order, to batch.
func (e *indexEntries) appendTo(batch *leveldb.Batch) error {
	for i := range e.l.blocks {
		if err := e.l.build(batch, &e.l.blocks[i]); err != nil {
			return err
		}
	}
	return nil
}

// each builds the entries block by block into one batch, reused, and
// calls emit with each block's.
func (e *indexEntries) each(emit func(*leveldb.Batch) error) error {
	// Doubling: goleveldb's default grows a batch past 3,000 records by
	// a fraction of its size, copying it each time.
	batch := leveldb.MakeBatchWithConfig(&leveldb.BatchConfig{GrowLimit: math.MaxInt32})
	for i := range e.l.blocks {
		batch.Reset()
		if err := e.l.build(batch, &e.l.blocks[i]); err != nil {
			return err
		}
		if err := emit(batch); err != nil {
			return err
		}
	}
	return nil
}

// build adds lb's entries to batch, reading its body from the block files.
func (l *indexLog) build(batch *leveldb.Batch, lb *loggedBlock) error {
	b, err := l.read(lb.body)
	if err != nil {
		return fmt.Errorf("index block at height %d: %w", lb.height, err)
	}
	for _, ix := range l.ixs {
		if lb.disconnect {
			ix.DisconnectBlock(batch, b, lb.txids, lb.height, lb.spent)
		} else {
			ix.ConnectBlock(batch, b, lb.txids, lb.height, lb.spent)
		}
	}
	return nil
}

// WriteIndexes writes the index entries of the blocks connected since the
// last UTXO flush, so that queries reading the database see them (IndexDB
// does this on every read). The write is synced (or a transaction): a
// later synced write must not survive a power cut that loses this one.
func (c *Chain) WriteIndexes() error {
	if c.ixlog.empty() {
		return nil
	}
	if err := c.Err(); err != nil {
		return err
	}
	if err := c.ixlog.drain(c.writeIndexEntries); err != nil {
		return c.fail(fmt.Errorf("write index entries: %w", err))
	}
	return nil
}

// writeIndexEntries writes e, if any, on its own.
func (c *Chain) writeIndexEntries(e *indexEntries) error {
	if e == nil {
		return nil
	}
	return c.writeAtomic(e, nil, new(leveldb.Batch))
}

// IndexDB is the chain database as the optional indexes' queries read it
// (it satisfies indexes.Reader): every read first writes the index entries
// still held in memory, so a query made after a block connected sees that
// block's entries.
type IndexDB struct{ c *Chain }

// IndexDB returns the database view the optional indexes' queries read.
func (c *Chain) IndexDB() IndexDB { return IndexDB{c} }

// Get reads key after writing the held index entries.
func (r IndexDB) Get(key []byte, ro *opt.ReadOptions) ([]byte, error) {
	if err := r.c.WriteIndexes(); err != nil {
		return nil, err
	}
	return r.c.db.Get(key, ro)
}

// NewIterator iterates over slice after writing the held index entries.
func (r IndexDB) NewIterator(slice *util.Range, ro *opt.ReadOptions) iterator.Iterator {
	if err := r.c.WriteIndexes(); err != nil {
		return iterator.NewEmptyIterator(err)
	}
	return r.c.db.NewIterator(slice, ro)
}
