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
)

// indexLog holds the optional indexes' entries (Config.Indexers) of the
// blocks connected and disconnected since those were last written. They
// go to disk with the next UTXO flush, in its one large batch (which
// LevelDB writes straight into tables, without its journal), or earlier
// when a query reads the indexes (IndexDB); their memory counts against
// Config.CacheBytes. Writing them with every block cost a block of 2,000
// payments about 10 ms of serial memtable inserts and wrote each index
// byte twice (journal, then table). A crash loses nothing: recovery
// connects the blocks after the last flush again, and with them their
// index entries (Indexer writes are idempotent).
type indexLog struct {
	mu    sync.Mutex
	batch *leveldb.Batch // nil until the first entry
	size  atomic.Int64   // memory estimate of batch, 0 when empty
}

// batchRecordOverhead is goleveldb's per-record bookkeeping in a Batch
// (its batchIndex) beyond the encoded bytes.
const batchRecordOverhead = 48

// record lets fn add entries to the log.
func (l *indexLog) record(fn func(*leveldb.Batch)) {
	l.mu.Lock()
	if l.batch == nil {
		// Doubling: past 3,000 records goleveldb's default grows a
		// batch by a fraction of its size, copying it every time.
		l.batch = leveldb.MakeBatchWithConfig(&leveldb.BatchConfig{GrowLimit: math.MaxInt32})
	}
	fn(l.batch)
	l.size.Store(int64(len(l.batch.Dump()) + batchRecordOverhead*l.batch.Len()))
	l.mu.Unlock()
}

// bytes returns the log's memory estimate.
func (l *indexLog) bytes() int { return int(l.size.Load()) }

// drain calls write with the log's entries (nil when it has none) under
// the log's lock, and empties the log if write succeeds. Readers waiting
// in IndexDB see the entries once they are on disk, never in between.
func (l *indexLog) drain(write func(*leveldb.Batch) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := write(l.batch); err != nil {
		return err
	}
	// Dropped, not Reset: the log must not keep a flush's worth of
	// memory that --dbcache no longer counts.
	l.batch = nil
	l.size.Store(0)
	return nil
}

// WriteIndexes writes the index entries of the blocks connected since the
// last UTXO flush, so that queries reading the database see them (IndexDB
// does this on every read). The write is synced: a later synced write
// must not survive a power cut that loses this one.
func (c *Chain) WriteIndexes() error {
	if c.ixlog.bytes() == 0 {
		return nil
	}
	if err := c.Err(); err != nil {
		return err
	}
	err := c.ixlog.drain(func(b *leveldb.Batch) error {
		if b == nil {
			return nil
		}
		return c.db.Write(b, &opt.WriteOptions{Sync: !c.cfg.NoSync})
	})
	if err != nil {
		return c.fail(fmt.Errorf("write index entries: %w", err))
	}
	return nil
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
