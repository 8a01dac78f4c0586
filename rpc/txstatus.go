package rpc

import (
	"container/list"
	"strconv"
	"sync"
	"tally/rpc/rpcjson"
	"time"

	"tally/chain"
	"tally/mempool"
	"tally/wire"
)

// Defaults of NewRecorder.
const (
	DefaultRecorderEntries = 10_000
	DefaultRecorderTTL     = 24 * time.Hour
)

// Record is what the recorder remembers of a transaction.
type Record struct {
	Status string
	Reason string
	Time   time.Time
	// Block and Height are set for rpcjson.StatusConfirmed.
	Block  wire.Hash
	Height uint64
	// ReplacedBy is set for rpcjson.StatusReplaced: the transaction that
	// replaced it (or an ancestor of it) in the pool.
	ReplacedBy wire.Hash
}

// Recorder remembers, for a bounded time and number of transactions, why
// transactions left the pool or never entered it, and (so that
// gettxstatus works without --txindex) which block confirmed them. Safe
// for concurrent use; it never calls back into the pool or the chain, so
// the pool may call it with its lock held.
type Recorder struct {
	max int
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	failed recordSet
	mined  recordSet
}

// recordSet is a map with insertion order, oldest first.
type recordSet struct {
	order *list.List // of wire.Hash
	byID  map[wire.Hash]recordEntry
}

type recordEntry struct {
	rec Record
	el  *list.Element
}

func newRecordSet() recordSet {
	return recordSet{order: list.New(), byID: make(map[wire.Hash]recordEntry)}
}

// NewRecorder returns a recorder keeping at most max failures and max
// confirmations, each for ttl (0: the defaults, 10,000 and 24 hours).
// now is the clock (nil: time.Now).
func NewRecorder(max int, ttl time.Duration, now func() time.Time) *Recorder {
	if max <= 0 {
		max = DefaultRecorderEntries
	}
	if ttl <= 0 {
		ttl = DefaultRecorderTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Recorder{max: max, ttl: ttl, now: now, failed: newRecordSet(), mined: newRecordSet()}
}

func (r *Recorder) put(set *recordSet, txid wire.Hash, rec Record) {
	if old, ok := set.byID[txid]; ok {
		set.order.Remove(old.el)
	}
	set.byID[txid] = recordEntry{rec: rec, el: set.order.PushBack(txid)}
	r.expire(set)
}

// expire drops entries beyond the bound or older than the TTL.
func (r *Recorder) expire(set *recordSet) {
	cutoff := r.now().Add(-r.ttl)
	for set.order.Len() > 0 {
		el := set.order.Front()
		id := el.Value.(wire.Hash)
		if set.order.Len() <= r.max && !set.byID[id].rec.Time.Before(cutoff) {
			return
		}
		set.order.Remove(el)
		delete(set.byID, id)
	}
}

func (r *Recorder) get(set *recordSet, txid wire.Hash) (Record, bool) {
	r.expire(set)
	e, ok := set.byID[txid]
	return e.rec, ok
}

// Record remembers that txid ended with status (rpcjson.StatusRefused,
// rpcjson.StatusEvicted, rpcjson.StatusReplaced, rpcjson.StatusConflicted) and why.
func (r *Recorder) Record(txid wire.Hash, status, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.put(&r.failed, txid, Record{Status: status, Reason: reason, Time: r.now()})
}

// PoolRemoved is a mempool.Config.OnRemove hook feeding the recorder:
// evicted transactions are rpcjson.StatusEvicted, replaced ones
// rpcjson.StatusReplaced with their replacement, the others
// rpcjson.StatusConflicted.
func (r *Recorder) PoolRemoved(txid wire.Hash, kind mempool.RemoveReason, why string) {
	rec := Record{Status: rpcjson.StatusConflicted, Reason: string(kind) + ": " + why}
	switch kind {
	case mempool.RemovedEvicted:
		rec.Status = rpcjson.StatusEvicted
	case mempool.RemovedReplaced:
		if by, ok := mempool.ReplacedBy(why); ok {
			rec.Status, rec.ReplacedBy = rpcjson.StatusReplaced, by
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rec.Time = r.now()
	r.put(&r.failed, txid, rec)
}

// HandleChainEvents records the transactions of connected blocks as
// confirmed, and those of disconnected blocks as conflicted (reported only
// while they are neither in the pool nor on the new chain); subscribe it
// with Chain.Subscribe. Coinbases are not recorded.
func (r *Recorder) HandleChainEvents(events []chain.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, ev := range events {
		for i, txid := range ev.TxIDs {
			if i == 0 {
				continue
			}
			switch ev.Kind {
			case chain.BlockConnected:
				r.put(&r.mined, txid, Record{Status: rpcjson.StatusConfirmed, Time: now, Block: ev.ID, Height: ev.Height})
			case chain.BlockDisconnected:
				if e, ok := r.mined.byID[txid]; ok && e.rec.Block == ev.ID {
					r.mined.order.Remove(e.el)
					delete(r.mined.byID, txid)
				}
				// Lookups see the pool and the new chain first: this
				// record only speaks when the transaction came back to
				// neither.
				r.put(&r.failed, txid, Record{Status: rpcjson.StatusConflicted, Time: now,
					Reason: "reorganized out: block " + ev.ID.String() + " at height " + strconv.FormatUint(ev.Height, 10) + " left the best chain and the transaction is in neither the pool nor the new chain"})
			}
		}
	}
}

// Lookup returns what the recorder knows of txid: a confirmation if it
// has one, else a failure.
func (r *Recorder) Lookup(txid wire.Hash) (confirmed, failed Record, hasConfirmed, hasFailed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	confirmed, hasConfirmed = r.get(&r.mined, txid)
	failed, hasFailed = r.get(&r.failed, txid)
	return
}
