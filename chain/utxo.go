package chain

import (
	"crypto/sha256"
	"fmt"
	"math"
	"sync"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/wire"
)

// cacheEntry is a coin in the UTXO cache. A spent entry hides the stored
// coin until a flush deletes it; a dirty entry differs from disk; a fresh
// entry does not exist on disk, so spending it needs no delete. A clean
// entry is a coin as a flush wrote it, kept (while the cache has room) so
// that blocks after the flush still find it in memory.
type cacheEntry struct {
	coin  wire.Coin
	spent bool
	dirty bool
	fresh bool
}

// entryBytes approximates the memory of one cache entry (key, value and
// the map's slack): Go's map of these takes 139 bytes per entry when its
// tables are full and about 210 just after they split
// (TestUTXOCacheEntryBytes), so --dbcache counts the middle of that.
const entryBytes = 176

// utxoCache is the UTXO set: coins on disk under prefix "u", and a bounded
// in-memory layer of recent changes and recently written coins. Only the
// chain's writer changes it; readers may look coins up concurrently.
type utxoCache struct {
	db       *leveldb.DB
	maxBytes int

	mu      sync.Mutex
	entries map[wire.OutPoint]cacheEntry
}

func newUTXOCache(db *leveldb.DB, maxBytes int) *utxoCache {
	return &utxoCache{db: db, maxBytes: maxBytes, entries: make(map[wire.OutPoint]cacheEntry)}
}

// coin returns the unspent coin at op.
func (u *utxoCache) coin(op wire.OutPoint) (wire.Coin, bool, error) {
	u.mu.Lock()
	e, ok := u.entries[op]
	u.mu.Unlock()
	if ok {
		return e.coin, !e.spent, nil
	}
	return u.stored(op)
}

// stored reads the coin at op from the database, under the cache.
func (u *utxoCache) stored(op wire.OutPoint) (wire.Coin, bool, error) {
	raw, err := u.db.Get(coinKey(op), nil)
	if err == leveldb.ErrNotFound {
		return wire.Coin{}, false, nil
	}
	if err != nil {
		return wire.Coin{}, false, fmt.Errorf("read coin: %w", err)
	}
	c, err := decodeCoin(raw)
	if err != nil {
		return wire.Coin{}, false, err
	}
	return c, true, nil
}

// uncached returns the outpoints of ops that the cache does not hold.
func (u *utxoCache) uncached(ops func(yield func(wire.OutPoint) bool)) []wire.OutPoint {
	var miss []wire.OutPoint
	u.mu.Lock()
	defer u.mu.Unlock()
	for op := range ops {
		if _, ok := u.entries[op]; !ok {
			miss = append(miss, op)
		}
	}
	return miss
}

// add records a new coin. An entry already cached that is not fresh (a
// spend not yet flushed, hiding a stored coin) keeps the new coin from
// being fresh: the stored coin must still be overwritten or deleted by the
// next flush, or spending the new coin would resurrect it.
func (u *utxoCache) add(op wire.OutPoint, c wire.Coin, fresh bool) {
	u.mu.Lock()
	u.addLocked(op, c, fresh)
	u.mu.Unlock()
}

// addLocked is add for a caller that holds u.mu (a block's outputs take
// it once).
func (u *utxoCache) addLocked(op wire.OutPoint, c wire.Coin, fresh bool) {
	if e, ok := u.entries[op]; ok && !e.fresh {
		fresh = false
	}
	u.entries[op] = cacheEntry{coin: c, dirty: true, fresh: fresh}
}

// spend removes a coin.
func (u *utxoCache) spend(op wire.OutPoint) {
	u.mu.Lock()
	if e, ok := u.entries[op]; ok && e.fresh {
		delete(u.entries, op)
	} else {
		u.entries[op] = cacheEntry{spent: true, dirty: true}
	}
	u.mu.Unlock()
}

// full reports whether the cache, with extra bytes held beside it (the
// index log), has reached its bound.
func (u *utxoCache) full(extra int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.entries)*entryBytes+extra >= u.maxBytes
}

// flushRecordBytes bounds the batch record of one coin (type, key and
// value with their lengths).
const flushRecordBytes = 1 + 1 + coinKeyBytes + 1 + coinSize

// takeDirty returns the dirty coins' outpoints and marks them clean: the
// caller writes them (batch) before the cache changes again; if that
// write fails the changes are lost, so the caller must stop. Spent
// entries stay, clean, until afterFlush drops them.
func (u *utxoCache) takeDirty() []wire.OutPoint {
	u.mu.Lock()
	defer u.mu.Unlock()
	var ops []wire.OutPoint
	for op, e := range u.entries {
		if e.dirty {
			ops = append(ops, op)
			e.dirty, e.fresh = false, false
			u.entries[op] = e
		}
	}
	return ops
}

// batch returns the records writing ops' entries to disk, with room for
// extra bytes more.
func (u *utxoCache) batch(ops []wire.OutPoint, extra int) *leveldb.Batch {
	// Room up front: past 3,000 records goleveldb grows a batch by a
	// fraction of its size, copying it each time (13 of a flush's 18.5 s
	// for 1.5 million coins).
	b := leveldb.MakeBatchWithConfig(&leveldb.BatchConfig{InitialCapacity: len(ops)*flushRecordBytes + extra, GrowLimit: math.MaxInt32})
	u.records(ops, func(key, val []byte) error {
		if val == nil {
			b.Delete(key)
		} else {
			b.Put(key, val)
		}
		return nil
	})
	return b
}

// write puts ops' entries into tr (a flush as one transaction: no batch
// holding every coin first).
func (u *utxoCache) write(tr *leveldb.Transaction, ops []wire.OutPoint) error {
	return u.records(ops, func(key, val []byte) error {
		if val == nil {
			return tr.Delete(key, nil)
		}
		return tr.Put(key, val, nil)
	})
}

// records calls emit with the key and value of each of ops' entries (a nil
// value for a spent one, whose key is to be deleted), stopping at an
// error. Key and value are scratch buffers, valid during the call: Batch
// and Transaction copy them. Only the chain's writer changes the cache,
// and it is the caller, so each entry is read under the lock on its own.
func (u *utxoCache) records(ops []wire.OutPoint, emit func(key, val []byte) error) error {
	key := make([]byte, 0, coinKeyBytes)
	val := make([]byte, 0, coinSize)
	for _, op := range ops {
		u.mu.Lock()
		e := u.entries[op]
		u.mu.Unlock()
		key = appendCoinKey(key[:0], op)
		v := []byte(nil)
		if !e.spent {
			v = appendCoin(val[:0], e.coin)
		}
		if err := emit(key, v); err != nil {
			return err
		}
	}
	return nil
}

// afterFlush forgets, once a flush is written (no entry is dirty), the
// spends it wrote (disk has them now), and its coins too when full is set
// (the cache is making room).
func (u *utxoCache) afterFlush(full bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if full {
		// clear keeps the map's memory: the cache fills to the same
		// size again, and regrowing it from empty after every flush
		// costs a rehash of every entry at each doubling.
		clear(u.entries)
		return
	}
	for op, e := range u.entries {
		if e.spent {
			delete(u.entries, op)
		}
	}
}

// UTXOStats summarizes the UTXO set as gettxoutsetinfo reports it.
type UTXOStats struct {
	Height      uint64
	BestBlock   wire.Hash
	TxOuts      uint64
	TotalAmount uint64
	// Hash is SHA-256 over every unspent output in ascending order of txid
	// then index, each as txid | index u32 | amount u64 | pkh | height u64
	// | coinbase u8 (SPEC section 7).
	Hash wire.Hash
}

// UTXOSetHasher accumulates the SPEC's UTXO set hash; coins must be added
// in ascending (txid, index) order.
type UTXOSetHasher struct {
	h      hashWriter
	Count  uint64
	Amount uint64
}

type hashWriter interface {
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// NewUTXOSetHasher returns an empty hasher.
func NewUTXOSetHasher() *UTXOSetHasher { return &UTXOSetHasher{h: sha256.New()} }

// Add hashes one coin.
func (s *UTXOSetHasher) Add(op wire.OutPoint, c wire.Coin) {
	var b [wire.HashSize + 4 + coinSize]byte
	copy(b[:], op.TxID[:])
	b[32], b[33], b[34], b[35] = byte(op.Index), byte(op.Index>>8), byte(op.Index>>16), byte(op.Index>>24)
	appendCoin(b[:36], c)
	s.h.Write(b[:])
	s.Count++
	s.Amount += c.Amount
}

// Sum returns the hash of the coins added so far.
func (s *UTXOSetHasher) Sum() wire.Hash {
	var out wire.Hash
	copy(out[:], s.h.Sum(nil))
	return out
}

// hashCoins hashes the coins stored in snap (taken after a flush).
func hashCoins(snap *leveldb.Snapshot) (*UTXOSetHasher, error) {
	it := snap.NewIterator(util.BytesPrefix([]byte{prefixCoin}), nil)
	defer it.Release()
	s := NewUTXOSetHasher()
	for it.Next() {
		op, ok := parseCoinKey(it.Key())
		if !ok {
			return nil, fmt.Errorf("%w: coin key of %d bytes", ErrCorrupt, len(it.Key()))
		}
		c, err := decodeCoin(it.Value())
		if err != nil {
			return nil, err
		}
		s.Add(op, c)
	}
	return s, it.Error()
}
