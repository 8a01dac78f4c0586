package mempool

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/wire"
)

// Chain is what the pool needs of the chain state.
type Chain interface {
	Tip() *chain.Snapshot
	Coin(op wire.OutPoint) (wire.Coin, bool, error)
	Params() *consensus.Params
}

// Defaults for Config fields left zero.
const (
	DefaultMaxBytes     = 300 << 20
	DefaultMinRelayFee  = 1
	DefaultMaxAncestors = 25
	DefaultMaxOrphans   = 100
	DefaultOrphanTTL    = 20 * time.Minute
	DefaultExpiry       = 14 * 24 * time.Hour
	maxOrphansPerPeer   = 20
)

// Config configures a Pool.
type Config struct {
	Chain    Chain
	SigCache *consensus.SigCache
	// MaxBytes bounds the encoded size of the pool (--maxmempool).
	MaxBytes int
	// MinRelayFee is the lowest fee rate accepted, in base units per byte.
	MinRelayFee uint64
	// MaxAncestors bounds a chain of unconfirmed transactions.
	MaxAncestors int
	MaxOrphans   int
	OrphanTTL    time.Duration
	Now          func() time.Time
	// OnRemove, if set, is told of every transaction leaving the pool for
	// a reason other than being mined (gettxstatus keeps a record). It is
	// called with the pool's lock held and must not call back into it.
	OnRemove func(txid wire.Hash, kind RemoveReason, why string)
	// OnChange, if set, is told of every transaction entering the pool
	// (removed == "") or leaving it (removed says why, RemovedMined
	// included), in the order the pool changed; the /events stream
	// follows it. A transaction that a reorganization takes out and puts
	// back is not reported. Called with the pool's lock held: it must not
	// call back into the pool.
	OnChange func(e *Entry, removed RemoveReason)
	// Expiry is how long a transaction may wait in the pool before Run
	// drops it (default DefaultExpiry, Bitcoin Core's -mempoolexpiry).
	Expiry time.Duration
}

// RemoveReason says why a transaction left the pool.
type RemoveReason string

// Removal reasons.
const (
	RemovedEvicted    = RemoveReason("evicted")
	RemovedConflicted = RemoveReason("conflicted")
	RemovedInvalid    = RemoveReason("invalid")
	// RemovedReplaced: a conflicting transaction paying more replaced it
	// (or an ancestor); the why text starts with replacedPrefix and the
	// replacement's txid (ReplacedBy reads it back).
	RemovedReplaced = RemoveReason("replaced")
	RemovedExpired  = RemoveReason("expired")
	// RemovedReorg: it was in the pool before a reorganization and no
	// longer fits the new chain.
	RemovedReorg = RemoveReason("reorg")
	// RemovedMined is reported only to OnChange (OnRemove is for the
	// transactions that did not make it).
	RemovedMined = RemoveReason("mined")
)

// MaxReplacements bounds the transactions one replacement may evict (the
// ones it conflicts with and their descendants), as Bitcoin Core's 100.
const MaxReplacements = 100

const replacedPrefix = "replaced by "

// ReplacedBy returns the replacing transaction named in the why text of a
// RemovedReplaced removal.
func ReplacedBy(why string) (wire.Hash, bool) {
	if len(why) < len(replacedPrefix)+2*wire.HashSize || why[:len(replacedPrefix)] != replacedPrefix {
		return wire.Hash{}, false
	}
	h, err := wire.ParseHash(why[len(replacedPrefix) : len(replacedPrefix)+2*wire.HashSize])
	return h, err == nil
}

// Entry is a pool transaction.
type Entry struct {
	Tx    *wire.Tx
	TxID  wire.Hash
	Size  int
	Fee   uint64
	Added time.Time
	// Height is the tip height when the transaction entered.
	Height uint64

	seq      uint64
	idx      int                  // position in Pool.list
	parents  map[wire.Hash]*Entry // nil when there are none
	children map[wire.Hash]*Entry // nil when there are none
}

// FeeRate returns the entry's fee per byte.
func (e *Entry) FeeRate() float64 { return float64(e.Fee) / float64(e.Size) }

type orphanTx struct {
	tx    *wire.Tx
	peer  string
	added time.Time
}

// Pool is the transaction pool. Safe for concurrent use.
type Pool struct {
	cfg Config
	p   *consensus.Params

	mu      sync.RWMutex
	entries map[wire.Hash]*Entry
	// known holds the entries in no particular order (Entry.idx indexes
	// it), each with its txid and transaction beside it: a compact
	// block's rebuild walks every txid, and reading them from one array
	// does not touch each entry.
	known   []knownTx
	spends  map[wire.OutPoint]*Entry // outpoint -> pool tx spending it
	bytes   int
	seq     uint64
	orphans map[wire.Hash]*orphanTx
	// testBeforeOrphan, when set by a test, runs between the check that
	// finds inputs missing and the keeping of the orphan.
	testBeforeOrphan func()
	est              *estimator
	recent           recentRing // removed transactions kept for compact blocks (recent.go)
	// tip is the chain tip the pool has caught up with (the last block
	// event it handled, once the pool fits it): templates are built only
	// on it. tipMoved is closed and replaced when it changes.
	tip      wire.Hash
	tipMoved chan struct{}
	// readding holds the pool transactions a reorganization took out to
	// check again: putting one back is not a change OnChange reports.
	readding map[wire.Hash]bool
}

// New returns an empty pool.
func New(cfg Config) *Pool {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MinRelayFee == 0 {
		cfg.MinRelayFee = DefaultMinRelayFee
	}
	if cfg.MaxAncestors <= 0 {
		cfg.MaxAncestors = DefaultMaxAncestors
	}
	if cfg.MaxOrphans <= 0 {
		cfg.MaxOrphans = DefaultMaxOrphans
	}
	if cfg.OrphanTTL <= 0 {
		cfg.OrphanTTL = DefaultOrphanTTL
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pool{
		cfg:      cfg,
		p:        cfg.Chain.Params(),
		entries:  make(map[wire.Hash]*Entry),
		spends:   make(map[wire.OutPoint]*Entry),
		orphans:  make(map[wire.Hash]*orphanTx),
		est:      newEstimator(),
		tip:      cfg.Chain.Tip().ID,
		tipMoved: make(chan struct{}),
	}
}

// MinRelayFee returns the lowest fee rate the pool accepts.
func (p *Pool) MinRelayFee() uint64 { return p.cfg.MinRelayFee }

// poolView is the UTXO set plus the pool's outputs, as of the next block.
type poolView struct {
	p       *Pool
	next    uint64
	missing []wire.Hash
	parents map[wire.Hash]*Entry
}

func (v *poolView) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	if e, ok := v.p.entries[op.TxID]; ok {
		if int(op.Index) >= len(e.Tx.Outputs) {
			return wire.Coin{}, false, nil
		}
		o := e.Tx.Outputs[op.Index]
		if v.parents == nil {
			v.parents = make(map[wire.Hash]*Entry)
		}
		v.parents[e.TxID] = e
		return wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: v.next}, true, nil
	}
	c, ok, err := v.p.cfg.Chain.Coin(op)
	if err != nil {
		return wire.Coin{}, false, fmt.Errorf("mempool: read coins: %w", err)
	}
	if !ok {
		v.missing = append(v.missing, op.TxID)
	}
	return c, ok, nil
}

// checked is what check found out about an acceptable transaction.
type checked struct {
	fee     uint64
	parents map[wire.Hash]*Entry
	// evict is what the transaction replaces: the pool transactions it
	// conflicts with and their descendants.
	evict []*Entry
}

// check runs every rule but signatures against chain + pool, including
// the replace-by-fee rules for a transaction that spends what pool
// transactions spend. The caller holds p.mu (read or write).
func (p *Pool) check(tx *wire.Tx, txid wire.Hash) (checked, error) {
	var none checked
	if _, ok := p.entries[txid]; ok {
		return none, reject(ErrAlreadyKnown, "transaction %s is already in the pool", txid)
	}
	if _, ok := p.orphans[txid]; ok {
		return none, reject(ErrAlreadyKnown, "transaction %s is already waiting for its inputs", txid)
	}
	var conflicts []*Entry
	for i := range tx.Inputs {
		if other, ok := p.spends[tx.Inputs[i].Prev]; ok && !slices.Contains(conflicts, other) {
			conflicts = append(conflicts, other)
		}
	}
	var evict []*Entry
	if len(conflicts) > 0 {
		seen := make(map[wire.Hash]bool)
		for _, c := range conflicts {
			for _, d := range descendants(c) {
				if !seen[d.TxID] {
					seen[d.TxID] = true
					evict = append(evict, d)
				}
			}
			if len(evict) > MaxReplacements {
				return none, reject(ErrTooManyReplacements, "replacing %s would evict more than %d transactions", c.TxID, MaxReplacements)
			}
		}
	}
	fee, parents, err := p.checkInputs(tx, txid)
	if err != nil {
		return none, err
	}
	if len(evict) > 0 {
		if err := p.checkReplacement(tx, txid, fee, parents, evict); err != nil {
			return none, err
		}
	}
	return checked{fee: fee, parents: parents, evict: evict}, nil
}

// checkReplacement applies the replace-by-fee rules (SPEC section 6, as
// Bitcoin Core 28's full RBF) to a transaction of fee that would evict
// evict: it spends no output of what it evicts, pays a higher fee rate
// than each transaction it evicts, and pays more than all of them
// together plus the minimum relay fee for its own size (its own
// bandwidth). The caller holds p.mu.
func (p *Pool) checkReplacement(tx *wire.Tx, txid wire.Hash, fee uint64, parents map[wire.Hash]*Entry, evict []*Entry) error {
	size := uint64(tx.SerializeSize())
	var evictedFees uint64
	for _, e := range evict {
		if _, ok := parents[e.TxID]; ok {
			return reject(ErrSpendsConflictingTx, "%s spends an output of %s, which it would replace", txid, e.TxID)
		}
		// fee/size <= e.Fee/e.Size, compared without division.
		if hi1, lo1 := bits.Mul64(fee, uint64(e.Size)); func() bool {
			hi2, lo2 := bits.Mul64(e.Fee, size)
			return hi1 < hi2 || hi1 == hi2 && lo1 <= lo2
		}() {
			return reject(ErrInsufficientFee, "fee rate %.3f per byte is not above the %.3f of %s, which it would replace",
				float64(fee)/float64(size), e.FeeRate(), e.TxID)
		}
		evictedFees += e.Fee // bounded by the money supply
	}
	if need := evictedFees + p.cfg.MinRelayFee*size; fee < need {
		return reject(ErrInsufficientFee, "fee %d is below the %d it must pay: the %d of the %d transaction(s) it replaces plus %d per byte for its own %d bytes",
			fee, need, evictedFees, len(evict), p.cfg.MinRelayFee, size)
	}
	for _, a := range ancestors(parents) {
		for _, e := range evict {
			if a == e {
				return reject(ErrSpendsConflictingTx, "%s descends from %s, which it would replace", txid, e.TxID)
			}
		}
	}
	return nil
}

// checkInputs runs the rules that need the inputs (chain + pool), the
// relay fee and the ancestor limit. The caller holds p.mu.
func (p *Pool) checkInputs(tx *wire.Tx, txid wire.Hash) (fee uint64, parents map[wire.Hash]*Entry, err error) {
	tip := p.cfg.Chain.Tip()
	next := tip.Height + 1
	if tx.LockTime > next {
		return 0, nil, fromRule(&consensus.RuleError{Kind: consensus.ErrNonFinal, Description: fmt.Sprintf("lock_time %d above next block height %d", tx.LockTime, next)})
	}
	view := &poolView{p: p, next: next}
	fee, err = consensus.CheckTxInputs(tx, txid, next, view, p.p)
	if _, isRule := err.(*consensus.RuleError); err != nil && !isRule {
		return 0, nil, err // the chain could not answer: no verdict
	}
	if err != nil {
		if errors.Is(err, consensus.ErrMissingInput) {
			for j := range tx.Outputs {
				if _, ok, _ := p.cfg.Chain.Coin(wire.OutPoint{TxID: txid, Index: uint32(j)}); ok {
					return 0, nil, reject(ErrAlreadyKnown, "transaction %s is already in the chain", txid)
				}
			}
		}
		return 0, nil, fromRule(err)
	}
	size := tx.SerializeSize()
	if fee < p.cfg.MinRelayFee*uint64(size) {
		return 0, nil, reject(ErrLowFee, "fee %d for %d bytes is below %d per byte", fee, size, p.cfg.MinRelayFee)
	}
	if n := p.countAncestors(view.parents); n+1 > p.cfg.MaxAncestors {
		return 0, nil, reject(ErrTooLongChain, "%d unconfirmed ancestors, limit %d", n, p.cfg.MaxAncestors-1)
	}
	return fee, view.parents, nil
}

// ancestors returns the pool ancestors of a transaction with the given
// parents, in no particular order.
func ancestors(parents map[wire.Hash]*Entry) map[wire.Hash]*Entry {
	out := make(map[wire.Hash]*Entry)
	stack := make([]*Entry, 0, len(parents))
	for _, e := range parents {
		stack = append(stack, e)
	}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, seen := out[e.TxID]; seen {
			continue
		}
		out[e.TxID] = e
		for _, pe := range e.parents {
			stack = append(stack, pe)
		}
	}
	return out
}

func (p *Pool) countAncestors(parents map[wire.Hash]*Entry) int {
	if len(parents) == 0 {
		return 0
	}
	return len(ancestors(parents))
}

// Accept validates tx against the chain and the pool and adds it. peer
// names the sender for the orphan bounds ("" for local submissions). A
// transaction whose inputs are unknown waits in the orphan pool and
// Accept returns ErrMissingInputs. Transactions that were waiting for this
// one are tried next.
func (p *Pool) Accept(tx *wire.Tx, peer string) (*Entry, error) {
	e, err := p.accept(tx, peer, true)
	if err == nil {
		p.acceptOrphansOf(e.TxID)
	}
	return e, err
}

// accept validates and adds tx; with keepOrphan a transaction with
// missing inputs waits in the orphan pool.
func (p *Pool) accept(tx *wire.Tx, peer string, keepOrphan bool) (*Entry, error) {
	if tx.IsCoinbase() {
		return nil, reject(ErrCoinbase, "a coinbase is only valid in a block")
	}
	if err := consensus.CheckTxSanity(tx, p.p); err != nil {
		return nil, fromRule(err)
	}
	txid := tx.TxID()
	for attempt := 0; ; attempt++ {
		p.mu.RLock()
		_, err := p.check(tx, txid)
		p.mu.RUnlock()
		if err == nil {
			break
		}
		if !keepOrphan || !errors.Is(err, ErrMissingInputs) || IsProvablyInvalid(err) {
			return nil, err
		}
		// A parent accepted between the check and addOrphan would have
		// looked for its orphans before this one was kept: addOrphan
		// checks again under the write lock, and then we try again.
		if p.testBeforeOrphan != nil {
			p.testBeforeOrphan()
		}
		if kept := p.addOrphan(tx, txid, peer); kept || attempt >= 2 {
			return nil, err
		}
	}
	// Signatures outside the lock, so concurrent submitters use every core.
	if err := consensus.CheckTxSignatures(tx, txid, p.p.NetworkID, p.cfg.SigCache); err != nil {
		return nil, fromRule(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ck, err := p.check(tx, txid)
	if err != nil {
		return nil, err
	}
	for _, old := range ck.evict {
		p.remove(old, false, RemovedReplaced, fmt.Sprintf("%s%s (paying %d for %d bytes)", replacedPrefix, txid, ck.fee, tx.SerializeSize()))
	}
	e := p.insert(tx, txid, ck.fee, ck.parents)
	if p.bytes > p.cfg.MaxBytes {
		p.evict()
		if _, ok := p.entries[txid]; !ok {
			return nil, reject(ErrPoolFull, "pool is full and the transaction's fee rate is among the lowest")
		}
	}
	return e, nil
}

func (p *Pool) insert(tx *wire.Tx, txid wire.Hash, fee uint64, parents map[wire.Hash]*Entry) *Entry {
	p.seq++
	e := &Entry{Tx: tx, TxID: txid, Size: tx.SerializeSize(), Fee: fee, Added: p.cfg.Now(),
		Height: p.cfg.Chain.Tip().Height, seq: p.seq, idx: len(p.known), parents: parents}
	for _, pe := range parents {
		if pe.children == nil {
			pe.children = make(map[wire.Hash]*Entry)
		}
		pe.children[txid] = e
	}
	p.known = append(p.known, knownTx{txid, tx, e})
	for i := range tx.Inputs {
		p.spends[tx.Inputs[i].Prev] = e
	}
	p.entries[txid] = e
	p.bytes += e.Size
	if p.readding[txid] {
		delete(p.readding, txid)
	} else if p.cfg.OnChange != nil {
		p.cfg.OnChange(e, "")
	}
	return e
}

// remove takes e out of the pool, if it is still there; with its
// descendants if withDesc.
func (p *Pool) remove(e *Entry, withDesc bool, reason RemoveReason, why string) {
	if _, ok := p.entries[e.TxID]; !ok {
		return
	}
	p.drop(e, withDesc, reason, why)
}

// drop is remove for an entry the caller just found in the pool.
func (p *Pool) drop(e *Entry, withDesc bool, reason RemoveReason, why string) {
	if withDesc {
		for _, c := range e.children {
			p.remove(c, true, reason, "parent "+e.TxID.String()+" left the pool")
		}
	}
	delete(p.entries, e.TxID)
	end := len(p.known) - 1
	last := p.known[end]
	p.known[e.idx], last.e.idx = last, e.idx
	p.known[end] = knownTx{}
	p.known = p.known[:end]
	p.bytes -= e.Size
	for i := range e.Tx.Inputs {
		if p.spends[e.Tx.Inputs[i].Prev] == e {
			delete(p.spends, e.Tx.Inputs[i].Prev)
		}
	}
	for _, pe := range e.parents {
		delete(pe.children, e.TxID)
	}
	for _, c := range e.children {
		delete(c.parents, e.TxID)
	}
	if reason == "" {
		return
	}
	if reason != RemovedMined {
		p.recent.add(e.TxID, e.Tx)
		if p.cfg.OnRemove != nil {
			p.cfg.OnRemove(e.TxID, reason, why)
		}
	}
	if p.cfg.OnChange != nil {
		p.cfg.OnChange(e, reason)
	}
}

// descendants returns e and everything that spends from it in the pool.
func descendants(e *Entry) []*Entry {
	seen := map[wire.Hash]bool{e.TxID: true}
	out := []*Entry{e}
	for i := 0; i < len(out); i++ {
		for _, c := range out[i].children {
			if !seen[c.TxID] {
				seen[c.TxID] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// evict removes the lowest fee-rate packages (a transaction with its
// descendants, scored by their combined fee rate) until the pool is at
// 95% of its bound, so evictions come in rounds rather than one per
// arrival.
func (p *Pool) evict() {
	type scored struct {
		e    *Entry
		rate float64
	}
	all := make([]scored, 0, len(p.known))
	for _, k := range p.known {
		e := k.e
		if len(e.children) == 0 {
			all = append(all, scored{e, e.FeeRate()})
			continue
		}
		var fee uint64
		var size int
		for _, d := range descendants(e) {
			fee += d.Fee
			size += d.Size
		}
		all = append(all, scored{e, float64(fee) / float64(size)})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].rate != all[j].rate {
			return all[i].rate < all[j].rate
		}
		return all[i].e.seq > all[j].e.seq
	})
	target := p.cfg.MaxBytes / 100 * 95
	for _, s := range all {
		if p.bytes <= target {
			return
		}
		p.remove(s.e, true, RemovedEvicted, fmt.Sprintf("pool full: package fee rate %.3f per byte among the lowest", s.rate))
	}
}

// addOrphan keeps tx until its inputs arrive. It reports false, keeping
// nothing, when the inputs are no longer missing (a parent came in since
// the caller's check) so that the caller tries tx again.
func (p *Pool) addOrphan(tx *wire.Tx, txid wire.Hash, peer string) bool {
	if tx.SerializeSize() > p.p.MaxTxBytes {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.check(tx, txid); !errors.Is(err, ErrMissingInputs) {
		return false
	}
	now := p.cfg.Now()
	perPeer := 0
	var oldest wire.Hash
	var oldestAt time.Time
	for id, o := range p.orphans {
		if now.Sub(o.added) > p.cfg.OrphanTTL {
			delete(p.orphans, id)
			continue
		}
		if o.peer == peer {
			perPeer++
		}
		if oldestAt.IsZero() || o.added.Before(oldestAt) {
			oldest, oldestAt = id, o.added
		}
	}
	if perPeer >= maxOrphansPerPeer {
		return true
	}
	if len(p.orphans) >= p.cfg.MaxOrphans {
		delete(p.orphans, oldest)
	}
	p.orphans[txid] = &orphanTx{tx: tx, peer: peer, added: now}
	return true
}

// acceptOrphansOf tries the orphans that spend outputs of txid, and
// theirs in turn.
func (p *Pool) acceptOrphansOf(txid wire.Hash) {
	// Most acceptances find no orphans: do not queue for the write lock.
	p.mu.RLock()
	none := len(p.orphans) == 0
	p.mu.RUnlock()
	if none {
		return
	}
	queue := []wire.Hash{txid}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		p.mu.Lock()
		var ready []*orphanTx
		now := p.cfg.Now()
		for id, o := range p.orphans {
			if now.Sub(o.added) > p.cfg.OrphanTTL {
				delete(p.orphans, id)
				continue
			}
			for _, in := range o.tx.Inputs {
				if in.Prev.TxID == parent {
					ready = append(ready, o)
					delete(p.orphans, id)
					break
				}
			}
		}
		p.mu.Unlock()
		for _, o := range ready {
			if e, err := p.accept(o.tx, o.peer, true); err == nil {
				queue = append(queue, e.TxID)
			}
		}
	}
}

// OrphanCount returns the number of transactions waiting for inputs.
func (p *Pool) OrphanCount() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.orphans)
}

// Get returns the pool entry for txid.
func (p *Pool) Get(txid wire.Hash) (*Entry, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.entries[txid]
	return e, ok
}

// Has reports whether txid is in the pool.
func (p *Pool) Has(txid wire.Hash) bool {
	_, ok := p.Get(txid)
	return ok
}

// Spender returns the pool transaction spending op, if any.
func (p *Pool) Spender(op wire.OutPoint) (wire.Hash, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.spends[op]
	if !ok {
		return wire.Hash{}, false
	}
	return e.TxID, true
}

// EntryInfo is a copy of an entry with its package figures, for RPC.
type EntryInfo struct {
	TxID          wire.Hash
	Size          int
	Fee           uint64
	Added         time.Time
	Height        uint64
	Depends       []wire.Hash // in-pool parents
	SpentBy       []wire.Hash // in-pool children
	AncestorCount int
	AncestorSize  int
	AncestorFees  uint64
}

// Info returns the pool entry for txid with its package figures.
func (p *Pool) Info(txid wire.Hash) (EntryInfo, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, ok := p.entries[txid]
	if !ok {
		return EntryInfo{}, false
	}
	return p.infoLocked(e), true
}

func (p *Pool) infoLocked(e *Entry) EntryInfo {
	info := EntryInfo{TxID: e.TxID, Size: e.Size, Fee: e.Fee, Added: e.Added, Height: e.Height,
		AncestorCount: 1, AncestorSize: e.Size, AncestorFees: e.Fee}
	for id := range e.parents {
		info.Depends = append(info.Depends, id)
	}
	for id := range e.children {
		info.SpentBy = append(info.SpentBy, id)
	}
	for _, a := range ancestors(e.parents) {
		info.AncestorCount++
		info.AncestorSize += a.Size
		info.AncestorFees += a.Fee
	}
	return info
}

// Entries returns every entry's info in arrival order.
func (p *Pool) Entries() []EntryInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]EntryInfo, 0, len(p.entries))
	for _, e := range p.sortedBySeq() {
		out = append(out, p.infoLocked(e))
	}
	return out
}

// TxIDs returns the pool's txids in arrival order.
func (p *Pool) TxIDs() []wire.Hash {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]wire.Hash, 0, len(p.entries))
	for _, e := range p.sortedBySeq() {
		out = append(out, e.TxID)
	}
	return out
}

func (p *Pool) sortedBySeq() []*Entry {
	all := make([]*Entry, 0, len(p.entries))
	for _, e := range p.entries {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	return all
}

// Stats are the pool's size figures.
type Stats struct {
	Count       int
	Bytes       int
	MaxBytes    int
	MinRelayFee uint64
	Orphans     int
}

// Stats returns the pool's size figures.
func (p *Pool) Stats() Stats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return Stats{Count: len(p.entries), Bytes: p.bytes, MaxBytes: p.cfg.MaxBytes, MinRelayFee: p.cfg.MinRelayFee, Orphans: len(p.orphans)}
}
