package chain

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/consensus"
	"tally/wire"
)

// Outcomes of ProcessBlock that are not rule violations; their meaning is
// in consensus's table.
const (
	// ErrDuplicate: the block is already stored.
	ErrDuplicate = consensus.ErrDuplicate
	// ErrOrphan: the block's parent is unknown; the block waits in the
	// orphan pool.
	ErrOrphan = consensus.ErrOrphan
	// ErrKnownInvalid: the block is already known to be invalid, or
	// descends from one.
	ErrKnownInvalid = consensus.ErrKnownInvalid
)

// Errors of the store itself.
var (
	// ErrForeignDB: the database belongs to another network or schema.
	ErrForeignDB = errors.New("database belongs to another network or schema")
	// ErrBroken: an earlier storage failure left the in-memory state
	// unusable; restart the node.
	ErrBroken = errors.New("chain state stopped after a storage failure")
)

// Config configures a Chain.
type Config struct {
	Params *consensus.Params
	// CacheBytes bounds the UTXO cache; 0 writes every block's changes
	// through at once.
	CacheBytes int
	// Now is the clock for the future-time rule (default time.Now).
	Now func() time.Time
	// SigCache, if set, skips signatures verified before (by the mempool).
	SigCache *consensus.SigCache
	// Workers is the number of signature-checking goroutines (default
	// GOMAXPROCS).
	Workers int
	// MaxOrphans bounds the orphan pool (default 100).
	MaxOrphans int
	// NoSync skips fsync on flushes (tests only).
	NoSync bool
	// Indexers maintain optional indexes in the same batches that
	// connect and disconnect blocks.
	Indexers []Indexer
}

// Indexer keeps an optional index (transactions, addresses) in the chain
// database. Its writes go into the batch that connects or disconnects the
// block, so the index moves with the chain atomically. Writes must be
// idempotent puts and deletes: after a crash, recovery connects the blocks
// after the last UTXO flush again. Indexers own the key prefixes listed
// in schema.go for them.
type Indexer interface {
	// ConnectBlock adds b's entries. spent holds the coins b's inputs
	// spent, in input order (coinbase excluded).
	ConnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin)
	// DisconnectBlock removes b's entries.
	DisconnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin)
}

// node is one block in the index.
type node struct {
	id       wire.Hash
	parent   *node
	children []*node
	header   wire.Header
	height   uint64
	work     *big.Int // cumulative
	status   uint8
	seq      uint64
	hasData  bool
}

func (n *node) entry() *indexEntry {
	return &indexEntry{header: n.header, height: n.height, status: n.status, seq: n.seq, work: n.work}
}

// Snapshot is a consistent view of the tip.
type Snapshot struct {
	ID         wire.Hash
	Height     uint64
	Header     wire.Header
	Work       *big.Int
	MedianTime uint64 // median time past ending at the tip
}

// EventKind says what happened to a block.
type EventKind int

// Events, sent after the change is on disk.
const (
	BlockConnected EventKind = iota
	BlockDisconnected
)

// Event reports a block joining or leaving the best chain.
type Event struct {
	Kind   EventKind
	Block  *wire.Block
	ID     wire.Hash
	Height uint64
	TxIDs  []wire.Hash
}

// Chain is the chain state. See the package doc for its locking.
type Chain struct {
	p       *consensus.Params
	db      *leveldb.DB
	ownDB   bool
	cfg     Config
	utxo    *utxoCache
	orphans *orphanPool
	tipSnap atomic.Pointer[Snapshot]
	process sync.Mutex // the one writer
	readMu  sync.RWMutex
	index   map[wire.Hash]*node // guarded by readMu (written under process too)
	main    []*node             // best chain by height; guarded by readMu
	nextSeq uint64
	broken  error
	subsMu  sync.Mutex
	subs    []func([]Event)
	pending []Event // events of the current ProcessBlock, sent after unlock
	diskTip *node   // the block the stored UTXO set is at
	// lastRuleErr holds the rule errors of blocks found invalid during
	// the current ProcessBlock.
	lastRuleErr map[wire.Hash]error
}

// Open opens (creating if needed) the chain database in dir.
func Open(dir string, cfg Config) (*Chain, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{
		Filter:             filter.NewBloomFilter(10),
		BlockCacheCapacity: 32 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open chain database %s: %w", dir, err)
	}
	c, err := New(db, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	c.ownDB = true
	return c, nil
}

// OpenMemory opens a chain on in-memory storage (tests and benchmarks).
func OpenMemory(cfg Config) (*Chain, error) {
	db, err := leveldb.Open(storage.NewMemStorage(), &opt.Options{Filter: filter.NewBloomFilter(10)})
	if err != nil {
		return nil, err
	}
	c, err := New(db, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	c.ownDB = true
	return c, nil
}

// New opens the chain state stored in db, initializing an empty database
// with the genesis block, and recovers to the best stored chain.
func New(db *leveldb.DB, cfg Config) (*Chain, error) {
	if cfg.Params == nil {
		return nil, errors.New("blockchain: no consensus parameters")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxOrphans <= 0 {
		cfg.MaxOrphans = 100
	}
	c := &Chain{
		p:       cfg.Params,
		db:      db,
		cfg:     cfg,
		utxo:    newUTXOCache(db, cfg.CacheBytes),
		orphans: newOrphanPool(cfg.MaxOrphans),
		index:   make(map[wire.Hash]*node),
	}
	want := encodeVersion(c.p.NetworkID, c.p.GenesisID)
	have, err := db.Get(keyVersion, nil)
	switch {
	case err == leveldb.ErrNotFound:
		if err := c.initGenesis(want); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("read chain database version: %w", err)
	case !bytes.Equal(have, want):
		return nil, fmt.Errorf("%w: it was made for network %x genesis %x, this node runs %s (%x)", ErrForeignDB, safeSlice(have, 4, 8), safeSlice(have, 8, 40), c.p.Network, c.p.NetworkID)
	}
	if err := c.loadIndex(); err != nil {
		return nil, err
	}
	c.process.Lock()
	err = c.activateBest(nil)
	events := c.takeEvents()
	c.process.Unlock()
	c.notify(events)
	if err != nil {
		return nil, fmt.Errorf("recover chain state: %w", err)
	}
	return c, nil
}

func safeSlice(b []byte, from, to int) []byte {
	if len(b) < to {
		return b
	}
	return b[from:to]
}

// initGenesis writes the genesis block, its index entry, its allocations
// as coins, the tip and the version key in one batch.
func (c *Chain) initGenesis(version []byte) error {
	g := c.p.Genesis
	id := c.p.GenesisID
	n := &node{id: id, header: g.Header, height: 0, work: consensus.CalcWork(g.Header.Bits), status: statusValid, hasData: true}
	batch := new(leveldb.Batch)
	batch.Put(hashKey(prefixBlock, id), g.Encode())
	batch.Put(hashKey(prefixIndex, id), encodeIndexEntry(n.entry()))
	batch.Put(hashKey(prefixUndo, id), encodeUndo(nil))
	cbid := g.Txs[0].TxID()
	for i, o := range g.Txs[0].Outputs {
		batch.Put(coinKey(wire.OutPoint{TxID: cbid, Index: uint32(i)}), appendCoin(nil, wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: 0, Coinbase: true}))
	}
	batch.Put(keyTip, id[:])
	batch.Put(keyVersion, version)
	if err := c.db.Write(batch, &opt.WriteOptions{Sync: !c.cfg.NoSync}); err != nil {
		return fmt.Errorf("write genesis: %w", err)
	}
	return nil
}

// loadIndex reads every index entry, links parents and sets the main chain
// to the stored UTXO tip.
func (c *Chain) loadIndex() error {
	it := c.db.NewIterator(util.BytesPrefix([]byte{prefixIndex}), nil)
	defer it.Release()
	type loaded struct {
		id wire.Hash
		e  *indexEntry
	}
	var all []loaded
	for it.Next() {
		var id wire.Hash
		if len(it.Key()) != 1+wire.HashSize {
			return fmt.Errorf("%w: index key of %d bytes", ErrCorrupt, len(it.Key()))
		}
		copy(id[:], it.Key()[1:])
		e, err := decodeIndexEntry(it.Value())
		if err != nil {
			return err
		}
		all = append(all, loaded{id, e})
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("read block index: %w", err)
	}
	for _, l := range all {
		c.index[l.id] = &node{id: l.id, header: l.e.header, height: l.e.height, work: l.e.work, status: l.e.status, seq: l.e.seq, hasData: true}
		if l.e.seq >= c.nextSeq {
			c.nextSeq = l.e.seq + 1
		}
	}
	for _, n := range c.index {
		if n.id == c.p.GenesisID {
			continue
		}
		parent, ok := c.index[n.header.PrevBlock]
		if !ok || parent.height+1 != n.height {
			return fmt.Errorf("%w: block %s has no stored parent", ErrCorrupt, n.id)
		}
		n.parent = parent
		parent.children = append(parent.children, n)
	}
	// Blocks stored only as invalid markers have no body.
	for _, n := range c.index {
		if n.status&statusInvalid != 0 {
			if ok, _ := c.db.Has(hashKey(prefixBlock, n.id), nil); !ok {
				n.hasData = false
			}
		}
	}
	raw, err := c.db.Get(keyTip, nil)
	if err != nil {
		return fmt.Errorf("read chain tip: %w", err)
	}
	var tipID wire.Hash
	copy(tipID[:], raw)
	tip, ok := c.index[tipID]
	if !ok || len(raw) != wire.HashSize {
		return fmt.Errorf("%w: tip %x not in the block index", ErrCorrupt, raw)
	}
	if _, ok := c.index[c.p.GenesisID]; !ok {
		return fmt.Errorf("%w: genesis block missing", ErrCorrupt)
	}
	c.main = make([]*node, tip.height+1)
	for n := tip; n != nil; n = n.parent {
		c.main[n.height] = n
	}
	if c.main[0] == nil || c.main[0].id != c.p.GenesisID {
		return fmt.Errorf("%w: tip does not descend from genesis", ErrCorrupt)
	}
	c.diskTip = tip
	c.publishTip()
	return nil
}

// Subscribe registers fn to receive the events of each change, in order
// (disconnections tip first, then connections), after they are committed.
// fn runs on the goroutine that processed the block and must not call
// ProcessBlock.
func (c *Chain) Subscribe(fn func([]Event)) {
	c.subsMu.Lock()
	c.subs = append(c.subs, fn)
	c.subsMu.Unlock()
}

func (c *Chain) takeEvents() []Event {
	ev := c.pending
	c.pending = nil
	return ev
}

func (c *Chain) notify(events []Event) {
	if len(events) == 0 {
		return
	}
	c.subsMu.Lock()
	subs := append([]func([]Event){}, c.subs...)
	c.subsMu.Unlock()
	for _, fn := range subs {
		fn(events)
	}
}

func (c *Chain) tipNode() *node { return c.main[len(c.main)-1] }

func (c *Chain) publishTip() {
	t := c.tipNode()
	c.tipSnap.Store(&Snapshot{ID: t.id, Height: t.height, Header: t.header, Work: t.work, MedianTime: c.medianTime(t)})
}

// medianTime returns the median time past of the 11 blocks ending at n.
func (c *Chain) medianTime(n *node) uint64 {
	times := make([]uint64, 0, 11)
	for ; n != nil && len(times) < 11; n = n.parent {
		times = append(times, n.header.Time)
	}
	return consensus.MedianTime(times)
}

// Result says where an accepted block went.
type Result int

// Results of ProcessBlock.
const (
	// MainChain: the block is on the best chain.
	MainChain Result = iota
	// SideChain: the block is stored and valid so far, but not on the best
	// chain.
	SideChain
)

// ProcessBlock validates and stores a block, reorganizes if it makes a
// heavier valid chain, and then processes orphans that were waiting for
// it. Errors: a *consensus.RuleError for a violation (matched with
// errors.Is against a consensus.ErrorKind), ErrDuplicate, ErrOrphan, or a
// storage error (the node should stop).
func (c *Chain) ProcessBlock(b *wire.Block) (Result, error) {
	return c.ProcessBlockRaw(b, nil)
}

// ProcessBlockRaw is ProcessBlock for a block decoded from raw
// (wire.DecodeBlock, which accepts only the canonical encoding): raw is
// stored as the block's body instead of encoding b again. A nil raw
// encodes b. raw is not retained.
func (c *Chain) ProcessBlockRaw(b *wire.Block, raw []byte) (Result, error) {
	c.process.Lock()
	res, err := c.processLocked(b, raw)
	events := c.takeEvents()
	c.process.Unlock()
	c.notify(events)
	return res, err
}

func (c *Chain) processLocked(b *wire.Block, raw []byte) (Result, error) {
	if c.broken != nil {
		return 0, fmt.Errorf("%w: %v", ErrBroken, c.broken)
	}
	c.lastRuleErr = make(map[wire.Hash]error)
	res, err := c.acceptBlock(b, raw)
	if err != nil {
		return res, err
	}
	// Adopt orphans whose parent is now known, breadth first.
	queue := []wire.Hash{b.BlockID()}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		for _, ob := range c.orphans.takeChildren(parent) {
			if _, oerr := c.acceptBlock(ob, nil); oerr == nil {
				queue = append(queue, ob.BlockID())
			} else if c.broken != nil {
				return res, oerr
			}
		}
	}
	if n := c.index[b.BlockID()]; n != nil && n.status&statusInvalid != 0 {
		return res, ruleErrKnownInvalid(n)
	}
	if c.onMain(c.index[b.BlockID()]) {
		return MainChain, nil
	}
	return SideChain, nil
}

func ruleErrKnownInvalid(n *node) error {
	return &consensus.RuleError{Kind: ErrKnownInvalid, Description: fmt.Sprintf("%s: block %s is invalid or descends from an invalid block", ErrKnownInvalid, n.id)}
}

func (c *Chain) onMain(n *node) bool {
	return n != nil && n.height < uint64(len(c.main)) && c.main[n.height] == n
}

// acceptBlock checks a block's header and body, stores it, and activates
// the best chain. raw, if not nil, is b's encoding.
func (c *Chain) acceptBlock(b *wire.Block, raw []byte) (Result, error) {
	id := b.BlockID()
	if n, ok := c.index[id]; ok {
		if n.status&statusInvalid != 0 {
			return 0, ruleErrKnownInvalid(n)
		}
		return 0, ErrDuplicate
	}
	if c.orphans.has(id) {
		return 0, ErrDuplicate
	}
	if err := consensus.CheckHeaderSanity(&b.Header, id, c.p); err != nil {
		return 0, err
	}
	parent, ok := c.index[b.Header.PrevBlock]
	if !ok {
		c.orphans.add(b, id, c.cfg.Now())
		return 0, ErrOrphan
	}
	if parent.status&statusInvalid != 0 {
		c.addInvalid(b.Header, id, parent)
		return 0, &consensus.RuleError{Kind: consensus.ErrBadPrevBlock, Description: fmt.Sprintf("%s: parent %s is invalid", consensus.ErrBadPrevBlock, parent.id)}
	}
	ctx := consensus.Parent{Height: parent.height, Time: parent.header.Time, MedianTime: c.medianTime(parent)}
	if err := consensus.CheckHeaderContext(&b.Header, ctx, c.p, c.cfg.Now().Unix()); err != nil {
		c.markIfCommitted(err, b.Header, id, parent)
		return 0, err
	}
	txids := b.TxIDs()
	if err := consensus.CheckBlockSanity(b, txids, parent.height+1, c.p); err != nil {
		c.markIfCommitted(err, b.Header, id, parent)
		return 0, err
	}
	n := c.newNode(b.Header, id, parent)
	n.hasData = true
	if raw == nil || len(raw) != b.SerializeSize() {
		raw = b.Encode()
	}
	// Sized for the block, so a 1 MB body is not copied as the batch grows.
	batch := leveldb.MakeBatch(len(raw) + 512)
	batch.Put(hashKey(prefixBlock, id), raw)
	batch.Put(hashKey(prefixIndex, id), encodeIndexEntry(n.entry()))
	if err := c.db.Write(batch, nil); err != nil {
		return 0, fmt.Errorf("store block %s: %w", id, err)
	}
	c.link(n)
	if err := c.activateBest(map[wire.Hash]blockBody{id: {b, txids}}); err != nil {
		return 0, err
	}
	if n.status&statusInvalid != 0 {
		return 0, c.invalidReason(n)
	}
	if c.onMain(n) {
		return MainChain, nil
	}
	return SideChain, nil
}

func (c *Chain) newNode(h wire.Header, id wire.Hash, parent *node) *node {
	n := &node{id: id, parent: parent, header: h, height: parent.height + 1, seq: c.nextSeq}
	c.nextSeq++
	n.work = new(big.Int).Add(parent.work, consensus.CalcWork(h.Bits))
	return n
}

func (c *Chain) link(n *node) {
	c.readMu.Lock()
	c.index[n.id] = n
	n.parent.children = append(n.parent.children, n)
	c.readMu.Unlock()
}

// markIfCommitted records the header as invalid when err is a rule
// violation its header commits to (consensus.ErrorKind.MarksInvalid): not
// for a body that does not match it, nor for a block from the future.
func (c *Chain) markIfCommitted(err error, h wire.Header, id wire.Hash, parent *node) {
	var re *consensus.RuleError
	if errors.As(err, &re) && re.Kind.MarksInvalid() {
		c.addInvalid(h, id, parent)
	}
}

// addInvalid records a header that violates a rule, so it is refused at
// once if it comes again. A failed write only loses that memo.
func (c *Chain) addInvalid(h wire.Header, id wire.Hash, parent *node) {
	n := c.newNode(h, id, parent)
	n.status = statusInvalid
	c.link(n)
	_ = c.db.Put(hashKey(prefixIndex, id), encodeIndexEntry(n.entry()), nil)
}

// invalidReason is the error reported for a block found invalid during
// activation: its own rule error, or bad-prevblk naming the ancestor that
// broke a rule (both recorded in lastRuleErr).
func (c *Chain) invalidReason(n *node) error {
	if err, ok := c.lastRuleErr[n.id]; ok {
		return err
	}
	for a := n.parent; a != nil; a = a.parent {
		if err, ok := c.lastRuleErr[a.id]; ok {
			return &consensus.RuleError{Kind: consensus.ErrBadPrevBlock,
				Description: fmt.Sprintf("%s: ancestor %s is invalid: %v", consensus.ErrBadPrevBlock, a.id, err)}
		}
	}
	return ruleErrKnownInvalid(n)
}
