package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/chain/blockfile"
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
	// ErrOldSchema: the database was written by an earlier version whose
	// layout this one does not read.
	ErrOldSchema = errors.New("database written by an earlier version")
	// ErrPruned: the block's body or undo data was deleted by pruning.
	ErrPruned = errors.New("block pruned")
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
	// MaxOrphans bounds the number of blocks in the orphan pool (default
	// 100).
	MaxOrphans int
	// MaxOrphanBytes bounds the encoded size of the orphan pool (default
	// DefaultMaxOrphanBytes). One peer may fill at most a quarter of
	// either bound.
	MaxOrphanBytes int
	// FlushInterval is how often Run writes the UTXO cache to disk, so
	// that a crash never replays more than that (default
	// DefaultFlushInterval).
	FlushInterval time.Duration
	// NoSync skips fsync on flushes (tests only).
	NoSync bool
	// BlocksDir holds the block files (blk*.dat, rev*.dat); Open
	// defaults it to <dir>/blocks, OpenMemory to an in-memory FS.
	BlocksDir string
	// BlockFS is the block files' file system (default the OS's).
	BlockFS blockfile.FS
	// MaxBlockFileSize bounds each block file (default
	// blockfile.DefaultMaxFileSize; tests make it small).
	MaxBlockFileSize int64
	// PruneBytes, if > 0, bounds the block and undo files (--prune):
	// the oldest files beyond it are deleted, never one holding the
	// last MinKeepBlocks blocks.
	PruneBytes int64
	// Indexers maintain optional indexes. Their entries are held in
	// memory (counted in CacheBytes) and written with the next UTXO
	// flush, or before a query reads them through IndexDB.
	Indexers []Indexer
	// AssumeValid is the --assumevalid block (zero: none): its ancestors
	// on a header chain given to AssumeHeaderChain skip the signature
	// check.
	AssumeValid wire.Hash
}

// Indexer keeps an optional index (transactions, addresses) in the chain
// database. Its writes go into the chain's index log, in block order,
// which reaches the database with the next UTXO flush or before a query
// reads through IndexDB. Writes must be idempotent puts and deletes:
// after a crash, recovery connects the blocks after the last UTXO flush
// again. Indexers own the key prefixes listed in schema.go for them.
type Indexer interface {
	// ConnectBlock adds b's entries. spent holds the coins b's inputs
	// spent, in input order (coinbase excluded).
	ConnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin)
	// DisconnectBlock removes b's entries.
	DisconnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin)
}

// Defaults for Config fields left zero.
const (
	DefaultMaxOrphans     = 100
	DefaultMaxOrphanBytes = 16 << 20
	DefaultFlushInterval  = 2 * time.Minute
)

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
	hasUndo  bool
	data     blockfile.Pos // body in the blk files, when hasData
	undo     blockfile.Pos // undo data in the rev files, when hasUndo
	candIdx  int           // position in the candidates heap, -1 when not in it
}

func (n *node) entry() *indexEntry {
	return &indexEntry{header: n.header, height: n.height, status: n.status, seq: n.seq, work: n.work,
		hasData: n.hasData, hasUndo: n.hasUndo, data: n.data, undo: n.undo}
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
	p     *consensus.Params
	db    *leveldb.DB
	ownDB bool
	cfg   Config
	blk   *blockfile.Store // block bodies
	rev   *blockfile.Store // undo data
	ends  fileEnds         // the files' durable ends, as last recorded in LevelDB
	// filesDirty: records were appended since the last write (guarded
	// by process).
	filesDirty bool
	pruned     uint64 // blocks of the best chain below this height may lack bodies (readMu)
	pruneCheck uint64 // prune finds nothing to delete below this tip height (process)
	utxo       *utxoCache
	orphans    *orphanPool
	cands      candidates // guarded by process
	tipSnap    atomic.Pointer[Snapshot]
	process    sync.Mutex // the one writer
	readMu     sync.RWMutex
	index      map[wire.Hash]*node // guarded by readMu (written under process too)
	invalid    *knownInvalid       // guarded by readMu (written under process too)
	main       []*node             // best chain by height; guarded by readMu
	nextSeq    uint64
	failure    failure
	events     eventQueue
	pending    []Event // events of the current ProcessBlock, sent after unlock
	diskTip    *node   // the block the stored UTXO set is at
	ixlog      indexLog
	taken      []takenCoin // connectTip's journal of spent coins, kept between blocks
	// noReadAhead turns connectTip's parallel coin reads off (benchmarks).
	noReadAhead bool
	// lastRuleErr holds the rule errors of blocks found invalid during
	// the current ProcessBlock.
	lastRuleErr map[wire.Hash]error
	av          assumeValid
}

// Open opens (creating if needed) the chain database in dir.
func Open(dir string, cfg Config) (*Chain, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{
		Filter:              filter.NewBloomFilter(10),
		BlockCacheCapacity:  blockCacheBytes(cfg.CacheBytes),
		WriteBuffer:         32 << 20,
		CompactionTableSize: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open chain database %s: %w", dir, err)
	}
	if cfg.BlocksDir == "" {
		cfg.BlocksDir = filepath.Join(dir, "blocks")
	}
	c, err := New(db, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	c.ownDB = true
	return c, nil
}

// blockCacheBytes sizes LevelDB's block cache from the UTXO cache's bound
// (--dbcache): half of it, between 8 and 256 MiB. Coins a block spends
// that the UTXO cache lacks are read from tables, and each read needs the
// table's index block (about 80 KiB for an 8 MiB table): a 32 MiB cache
// let the data blocks of random reads push the index blocks out, and the
// initial-sync benchmark's full blocks spent 17 s re-reading and
// decompressing them (25 s of coin reads with 128 MiB against 47 s). The
// node's memory budget (node.Config.MemoryLimit) has the room: 1.5 x
// --dbcache. Bitcoin Core likewise gives its coins database a share of
// -dbcache.
func blockCacheBytes(cacheBytes int) int {
	return min(max(cacheBytes/2, 8<<20), 256<<20)
}

// OpenMemory opens a chain on in-memory storage (tests and benchmarks).
func OpenMemory(cfg Config) (*Chain, error) {
	db, err := leveldb.Open(storage.NewMemStorage(), &opt.Options{Filter: filter.NewBloomFilter(10)})
	if err != nil {
		return nil, err
	}
	if cfg.BlockFS == nil {
		cfg.BlockFS = blockfile.NewMemFS()
	}
	if cfg.BlocksDir == "" {
		cfg.BlocksDir = "/blocks"
	}
	c, err := New(db, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	c.ownDB = true
	return c, nil
}

// New opens the chain state stored in db and the block files in
// cfg.BlocksDir, initializing an empty database with the genesis block,
// and recovers to the best stored chain.
func New(db *leveldb.DB, cfg Config) (*Chain, error) {
	if cfg.Params == nil {
		return nil, errors.New("blockchain: no consensus parameters")
	}
	if cfg.BlocksDir == "" {
		return nil, errors.New("blockchain: no block file directory (Config.BlocksDir)")
	}
	if len(cfg.Indexers) > 0 && cfg.PruneBytes > 0 {
		// The indexes read the bodies of the blocks they index, and
		// their queries point into them (SPEC section 4).
		return nil, errors.New("blockchain: optional indexes cannot run with pruning")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxOrphans <= 0 {
		cfg.MaxOrphans = DefaultMaxOrphans
	}
	if cfg.MaxOrphanBytes <= 0 {
		cfg.MaxOrphanBytes = DefaultMaxOrphanBytes
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	c := &Chain{
		p:       cfg.Params,
		db:      db,
		cfg:     cfg,
		utxo:    newUTXOCache(db, cfg.CacheBytes),
		orphans: newOrphanPool(cfg.MaxOrphans, cfg.MaxOrphanBytes),
		index:   make(map[wire.Hash]*node),
		invalid: newKnownInvalid(),
	}
	c.av.id = cfg.AssumeValid
	c.ixlog.ixs = cfg.Indexers
	c.ixlog.read = c.readBody
	c.failure.init()
	c.events.init()
	want := encodeVersion(c.p.NetworkID, c.p.GenesisID)
	have, err := db.Get(keyVersion, nil)
	fresh := err == leveldb.ErrNotFound
	switch {
	case fresh:
	case err != nil:
		return nil, fmt.Errorf("read chain database version: %w", err)
	case len(have) == len(want) && bytes.Equal(have[4:], want[4:]) && !bytes.Equal(have[:4], want[:4]):
		return nil, fmt.Errorf("%w (schema %d; this version reads schema %d and keeps block bodies in %s): "+
			"move the data directory aside and start the node on an empty one to sync the chain again",
			ErrOldSchema, binary.LittleEndian.Uint32(have), schemaVersion, cfg.BlocksDir)
	case !bytes.Equal(have, want):
		return nil, fmt.Errorf("%w: it was made for network %x genesis %x, this node runs %s (%x)", ErrForeignDB, safeSlice(have, 4, 8), safeSlice(have, 8, 40), c.p.Network, c.p.NetworkID)
	}
	if err := c.openFiles(fresh); err != nil {
		return nil, err
	}
	if fresh {
		if err := c.initGenesis(want); err != nil {
			c.closeFiles()
			return nil, err
		}
	}
	if err := c.loadIndex(); err != nil {
		c.closeFiles()
		return nil, err
	}
	c.process.Lock()
	err = c.activateBest(nil)
	ticket, events := c.takeEvents()
	c.process.Unlock()
	c.events.deliver(ticket, events)
	if err != nil {
		c.closeFiles()
		return nil, fmt.Errorf("recover chain state: %w", err)
	}
	return c, nil
}

// openFiles opens the block and undo files, cut to the durable ends the
// database recorded (a fresh database must find none: files without their
// index are another node's, or a wiped database's).
func (c *Chain) openFiles(fresh bool) error {
	var durable *fileEnds
	raw, err := c.db.Get(keyFiles, nil)
	switch {
	case err == leveldb.ErrNotFound:
	case err != nil:
		return fmt.Errorf("read block file ends: %w", err)
	default:
		e, err := decodeFileEnds(raw)
		if err != nil {
			return err
		}
		durable = &e
	}
	if !fresh && durable == nil {
		return fmt.Errorf("%w: no block file record", ErrCorrupt)
	}
	open := func(prefix string, magic [4]byte, end *blockfile.End) (*blockfile.Store, error) {
		s, err := blockfile.Open(c.cfg.BlocksDir, blockfile.Options{Prefix: prefix, Magic: magic,
			MaxFileSize: c.cfg.MaxBlockFileSize, NoSync: c.cfg.NoSync, FS: c.cfg.BlockFS, Durable: end})
		if err != nil {
			return nil, fmt.Errorf("open block files %s*.dat in %s: %w", prefix, c.cfg.BlocksDir, err)
		}
		if fresh && s.Size() > 0 {
			s.Close()
			return nil, fmt.Errorf("%w: %s holds %s*.dat files but the chain database is new; "+
				"remove them, or point --datadir at the directory they belong to", ErrForeignDB, c.cfg.BlocksDir, prefix)
		}
		return s, nil
	}
	var blkEnd, revEnd *blockfile.End
	if durable != nil {
		blkEnd, revEnd = &durable.blk, &durable.rev
		c.ends = *durable
	}
	// Magics: the network id for bodies, its complement for undo data,
	// so neither kind nor network can be read as another.
	id := c.p.NetworkID
	if c.blk, err = open("blk", id, blkEnd); err != nil {
		return err
	}
	if c.rev, err = open("rev", [4]byte{^id[0], ^id[1], ^id[2], ^id[3]}, revEnd); err != nil {
		c.blk.Close()
		return err
	}
	return nil
}

func (c *Chain) closeFiles() error {
	return errors.Join(c.blk.Close(), c.rev.Close())
}

// storeBody appends raw to the block files as n's body. It becomes
// durable in the next write, before the batch that points to it.
func (c *Chain) storeBody(n *node, raw []byte) error {
	pos, err := c.blk.Append(raw)
	if err != nil {
		return err
	}
	n.data, n.hasData, c.filesDirty = pos, true, true
	return nil
}

// storeUndo appends n's undo data to the block files, durable in the
// next write.
func (c *Chain) storeUndo(n *node, undo []wire.Coin) error {
	pos, err := c.rev.Append(encodeUndo(undo))
	if err != nil {
		return err
	}
	n.undo, n.hasUndo, c.filesDirty = pos, true, true
	return nil
}

// syncFiles makes the records appended since the last write durable and
// records the files' new ends in batch (SPEC section 4: the files a batch
// points to are synced before it is written). Both files sync at once.
func (c *Chain) syncFiles(batch *leveldb.Batch) error {
	if !c.filesDirty {
		return nil
	}
	var revEnd blockfile.End
	revErr := make(chan error, 1)
	syncRev := func() {
		var err error
		revEnd, err = c.rev.Sync()
		revErr <- err
	}
	if c.cfg.NoSync {
		syncRev() // nothing to wait for on the disk: no goroutine to wait for either
	} else {
		go syncRev()
	}
	blkEnd, err := c.blk.Sync()
	if err := errors.Join(err, <-revErr); err != nil {
		return fmt.Errorf("sync block files: %w", err)
	}
	c.ends = fileEnds{blk: blkEnd, rev: revEnd}
	c.filesDirty = false
	batch.Put(keyFiles, encodeFileEnds(c.ends))
	return nil
}

// syncFilesEarly starts syncing the records appended to the block and undo
// files on their own goroutines; the next syncFiles waits for them (the
// stores serialize their syncs) and syncs again whatever they did not,
// failures included.
func (c *Chain) syncFilesEarly() {
	if !c.filesDirty || c.cfg.NoSync {
		return
	}
	go c.blk.Sync()
	go c.rev.Sync()
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
	n := &node{id: id, header: g.Header, height: 0, work: consensus.CalcWork(g.Header.Bits), status: statusValid, candIdx: -1}
	if err := c.storeBody(n, g.Encode()); err != nil {
		return fmt.Errorf("write genesis: %w", err)
	}
	if err := c.storeUndo(n, nil); err != nil {
		return fmt.Errorf("write genesis: %w", err)
	}
	batch := new(leveldb.Batch)
	batch.Put(hashKey(prefixIndex, id), encodeIndexEntry(n.entry()))
	cbid := g.Txs[0].TxID()
	for i, o := range g.Txs[0].Outputs {
		batch.Put(coinKey(wire.OutPoint{TxID: cbid, Index: uint32(i)}), appendCoin(nil, wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: 0, Coinbase: true}))
	}
	batch.Put(keyTip, id[:])
	batch.Put(keyVersion, version)
	if err := c.write(batch); err != nil {
		return fmt.Errorf("write genesis: %w", err)
	}
	return nil
}

// loadIndex reads every index entry, links parents and sets the main chain
// to the stored UTXO tip.
func (c *Chain) loadIndex() error {
	it := c.db.NewIterator(util.BytesPrefix([]byte{prefixIndex}), nil)
	defer it.Release()
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
		c.index[id] = &node{id: id, header: e.header, height: e.height, work: e.work, status: e.status, seq: e.seq,
			hasData: e.hasData, hasUndo: e.hasUndo, data: e.data, undo: e.undo, candIdx: -1}
		if e.seq >= c.nextSeq {
			c.nextSeq = e.seq + 1
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("read block index: %w", err)
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
	for _, n := range c.main {
		if n.hasData {
			break
		}
		c.pruned = n.height + 1
	}
	// Recovery connects the stored blocks after the flushed tip: every
	// stored block with at least its work may be the best.
	for _, n := range c.index {
		if n.work.Cmp(tip.work) >= 0 {
			c.cands.add(n)
		}
	}
	c.publishTip()
	return nil
}

// Subscribe registers fn to receive the events of each change
// (disconnections tip first, then connections) after they are committed.
// Every subscriber sees every change in the order the chain committed
// them, one call at a time, even when blocks are processed concurrently;
// ProcessBlock returns after its own events were delivered. fn runs on
// the goroutine that processed the block and must not call ProcessBlock
// (it would wait for its own delivery).
func (c *Chain) Subscribe(fn func([]Event)) { c.events.subscribe(fn) }

// takeEvents hands out the pending events with their delivery ticket;
// called under the process mutex, so tickets follow commit order.
func (c *Chain) takeEvents() (uint64, []Event) {
	ev := c.pending
	c.pending = nil
	if len(ev) == 0 {
		return 0, nil
	}
	return c.events.ticket(), ev
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

// Origin says where a block comes from, which decides what is worth
// storing (SPEC section 4).
type Origin uint8

// Origins of a block.
const (
	// OriginLocal: the operator's own block (submitblock, the miner,
	// tests). Stored as given, as Core does; a rule violation is recorded
	// in the index, so it survives a restart.
	OriginLocal Origin = iota
	// OriginRequested: a block we asked a peer for (headers-first sync,
	// which asks only for header chains with enough work). Stored;
	// invalid headers are remembered in memory only.
	OriginRequested
	// OriginGossip: a block a peer sent unasked. Stored only if its chain
	// has at least the work of the tip (ErrLowWork otherwise); invalid
	// headers are remembered in memory only.
	OriginGossip
)

// Source is where a block comes from: its origin and, for a peer's block,
// the peer (which bounds its share of the orphan pool).
type Source struct {
	Origin Origin
	Peer   string
	// TxIDs, when it has one entry per transaction, are the block's
	// transaction ids as the caller computed them (a compact block's
	// rebuild has them from the mempool), so the chain does not hash every
	// transaction again. They are trusted as ProcessBlockRaw's raw is: the
	// caller hashed these very transactions. Any other length is ignored.
	TxIDs []wire.Hash
}

// txids returns b's transaction ids: src's when it has them.
func (s Source) txids(b *wire.Block) []wire.Hash {
	if len(s.TxIDs) == len(b.Txs) {
		return s.TxIDs
	}
	return b.TxIDs()
}

// fromNetwork reports whether the block came from a peer, whose invalid
// headers are never persisted.
func (s Source) fromNetwork() bool { return s.Origin != OriginLocal }

// ProcessBlock validates and stores the operator's own block
// (OriginLocal), reorganizes if it makes a heavier valid chain, and then
// processes orphans that were waiting for it. Errors: a
// *consensus.RuleError for a violation (matched with errors.Is against a
// consensus.ErrorKind), an outcome kind (ErrDuplicate, ErrOrphan,
// consensus.ErrLowWork), or a storage error, after which the chain stops
// (Failed, Err).
func (c *Chain) ProcessBlock(b *wire.Block) (Result, error) {
	return c.ProcessBlockRaw(b, nil, Source{Origin: OriginLocal})
}

// ProcessBlockRaw is ProcessBlock for a block from src, decoded from raw
// (wire.DecodeBlock, which accepts only the canonical encoding): raw is
// stored as the block's body instead of encoding b again. A nil raw
// encodes b. raw is not retained.
func (c *Chain) ProcessBlockRaw(b *wire.Block, raw []byte, src Source) (Result, error) {
	c.process.Lock()
	res, err := c.processLocked(b, raw, src)
	ticket, events := c.takeEvents()
	c.process.Unlock()
	c.events.deliver(ticket, events)
	return res, err
}

func (c *Chain) processLocked(b *wire.Block, raw []byte, src Source) (Result, error) {
	if err := c.Err(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBroken, err)
	}
	c.lastRuleErr = make(map[wire.Hash]error)
	res, err := c.acceptBlock(b, raw, src)
	if err != nil {
		return res, err
	}
	// Adopt orphans whose parent is now known, breadth first.
	queue := []wire.Hash{b.BlockID()}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		for _, o := range c.orphans.takeChildren(parent) {
			if _, oerr := c.acceptBlock(o.block, nil, o.src); oerr == nil {
				queue = append(queue, o.block.BlockID())
			} else if c.Err() != nil {
				return res, oerr
			}
		}
	}
	if n := c.index[b.BlockID()]; n != nil && n.status&statusInvalid != 0 {
		return res, ruleErrKnownInvalid(n.id)
	}
	if c.onMain(c.index[b.BlockID()]) {
		return MainChain, nil
	}
	return SideChain, nil
}

func ruleErrKnownInvalid(id wire.Hash) error {
	return &consensus.RuleError{Kind: ErrKnownInvalid, Description: fmt.Sprintf("%s: block %s is invalid or descends from an invalid block", ErrKnownInvalid, id)}
}

func (c *Chain) onMain(n *node) bool {
	return n != nil && n.height < uint64(len(c.main)) && c.main[n.height] == n
}

// acceptBlock checks a block's header and body, stores it if it can
// matter, and activates the best chain. raw, if not nil, is b's encoding.
func (c *Chain) acceptBlock(b *wire.Block, raw []byte, src Source) (Result, error) {
	id := b.BlockID()
	if n, ok := c.index[id]; ok {
		if n.status&statusInvalid != 0 {
			return 0, ruleErrKnownInvalid(id)
		}
		return 0, ErrDuplicate
	}
	if _, ok := c.invalid.get(id); ok {
		return 0, ruleErrKnownInvalid(id)
	}
	if c.orphans.has(id) {
		return 0, ErrDuplicate
	}
	if err := consensus.CheckHeaderSanity(&b.Header, id, c.p); err != nil {
		return 0, err
	}
	parent, ok := c.index[b.Header.PrevBlock]
	if !ok {
		if bad, ok := c.invalid.get(b.Header.PrevBlock); ok {
			c.addInvalid(b.Header, id, bad.height+1, new(big.Int).Add(bad.work, consensus.CalcWork(b.Header.Bits)), nil, src)
			return 0, &consensus.RuleError{Kind: consensus.ErrBadPrevBlock, Description: fmt.Sprintf("%s: parent %s is invalid", consensus.ErrBadPrevBlock, b.Header.PrevBlock)}
		}
		// Only a body that matches its header waits: a mutated copy
		// must not take the genuine block's place.
		txids := src.txids(b)
		if err := consensus.CheckBodyCommitment(b, txids, c.p); err != nil {
			return 0, err
		}
		src.TxIDs = nil // an orphan's memory is its block's (orphanPool bounds it)
		c.orphans.add(b, id, src, c.cfg.Now())
		return 0, ErrOrphan
	}
	work := new(big.Int).Add(parent.work, consensus.CalcWork(b.Header.Bits))
	if parent.status&statusInvalid != 0 {
		c.addInvalid(b.Header, id, parent.height+1, work, parent, src)
		return 0, &consensus.RuleError{Kind: consensus.ErrBadPrevBlock, Description: fmt.Sprintf("%s: parent %s is invalid", consensus.ErrBadPrevBlock, parent.id)}
	}
	ctx := consensus.Parent{Height: parent.height, Time: parent.header.Time, MedianTime: c.medianTime(parent)}
	if err := consensus.CheckHeaderContext(&b.Header, ctx, c.p, c.cfg.Now().Unix()); err != nil {
		c.markIfCommitted(err, b.Header, id, work, parent, src)
		return 0, err
	}
	if src.Origin == OriginGossip {
		if tip := c.tipNode(); work.Cmp(tip.work) < 0 {
			// SPEC section 4: an unrequested block is stored only if its
			// chain has at least the tip's work. Nobody's fault: an honest
			// stale block looks the same.
			return 0, &consensus.RuleError{Kind: consensus.ErrLowWork, Description: fmt.Sprintf("%s: block %s at height %d has less chain work than the tip", consensus.ErrLowWork, id, parent.height+1)}
		}
	}
	txids := src.txids(b)
	if err := consensus.CheckBlockSanity(b, txids, parent.height+1, c.p); err != nil {
		c.markIfCommitted(err, b.Header, id, work, parent, src)
		return 0, err
	}
	n := c.newNode(b.Header, id, parent)
	if raw == nil || len(raw) != b.SerializeSize() {
		raw = b.Encode()
	}
	if err := c.storeBody(n, raw); err != nil {
		return 0, c.fail(fmt.Errorf("store block %s: %w", id, err))
	}
	c.link(n)
	if n.work.Cmp(c.tipNode().work) >= 0 {
		c.cands.remove(parent) // n has more work, and is the tip-to-be of parent's branch
		c.cands.add(n)
	}
	if err := c.activateBest(map[wire.Hash]blockBody{id: {b, txids}}); err != nil {
		return 0, err
	}
	if err := c.prune(); err != nil {
		return 0, c.fail(err)
	}
	// The batch that connected n (or marked it invalid) recorded its
	// index entry; a block left on a side branch gets its own. Either
	// way one synced write, after the body is synced, per block.
	if !c.onMain(n) && n.status&statusInvalid == 0 {
		batch := new(leveldb.Batch)
		batch.Put(hashKey(prefixIndex, id), encodeIndexEntry(n.entry()))
		if err := c.write(batch); err != nil {
			return 0, c.fail(fmt.Errorf("store block %s: %w", id, err))
		}
	}
	if n.status&statusInvalid != 0 {
		return 0, c.invalidReason(n)
	}
	if c.onMain(n) {
		return MainChain, nil
	}
	return SideChain, nil
}

// write writes batch durably (unless Config.NoSync): what the tip depends
// on must be on disk before the tip moves, and LevelDB does not sync a
// journal it rotates away from, so an unsynced write could be lost in a
// power cut while a later synced tip survives.
func (c *Chain) write(batch *leveldb.Batch) error {
	if err := c.syncFiles(batch); err != nil {
		return err
	}
	return c.db.Write(batch, &opt.WriteOptions{Sync: !c.cfg.NoSync})
}

func (c *Chain) newNode(h wire.Header, id wire.Hash, parent *node) *node {
	n := &node{id: id, parent: parent, header: h, height: parent.height + 1, seq: c.nextSeq, candIdx: -1}
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
// violation its header commits to (consensus.Meaning.MarksInvalid): not
// for a body that does not match it, nor for a block from the future.
func (c *Chain) markIfCommitted(err error, h wire.Header, id wire.Hash, work *big.Int, parent *node, src Source) {
	if _, m, ok := consensus.Classify(err); ok && m.MarksInvalid {
		c.addInvalid(h, id, parent.height+1, work, parent, src)
	}
}

// addInvalid records a header that violates a rule, so it is refused at
// once if it comes again. A header from the network goes to the bounded
// in-memory set only (SPEC section 4: invalid headers are not persisted;
// an attacker's headers must cost us no disk and no index growth). The
// operator's own block (OriginLocal) is recorded in the index, so that
// getchaintips shows it across restarts as before. parent is nil when the
// parent is itself only in the in-memory set.
func (c *Chain) addInvalid(h wire.Header, id wire.Hash, height uint64, work *big.Int, parent *node, src Source) {
	if src.fromNetwork() || parent == nil {
		c.readMu.Lock()
		c.invalid.add(id, invalidHeader{header: h, height: height, work: work})
		c.readMu.Unlock()
		return
	}
	n := c.newNode(h, id, parent)
	n.status = statusInvalid
	c.link(n)
	batch := new(leveldb.Batch)
	batch.Put(hashKey(prefixIndex, id), encodeIndexEntry(n.entry()))
	if err := c.write(batch); err != nil {
		c.fail(fmt.Errorf("record invalid block %s: %w", id, err))
	}
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
	return ruleErrKnownInvalid(n.id)
}
