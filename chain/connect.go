package chain

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"tally/chain/blockfile"
	"tally/consensus"
	"tally/wire"
)

// activateBest moves the best chain to the valid stored block with the
// most work, disconnecting and connecting blocks as needed. A block that
// breaks a rule while connecting is marked invalid with its descendants,
// and the search starts again. known holds block bodies already in memory.
func (c *Chain) activateBest(known map[wire.Hash]blockBody) error {
	for {
		tip := c.tipNode()
		best := c.cands.best(tip)
		// The tip is a candidate too, so a best other than the tip has
		// more work or, on a tie, was seen first: after a branch that
		// overtook the first-seen tip turns out invalid and leaves an
		// equal-work remainder, go back to the first seen (SPEC: on a
		// tie, the one seen first).
		if best == nil || best == tip || best.work.Cmp(tip.work) < 0 ||
			(best.work.Cmp(tip.work) == 0 && best.seq > tip.seq) {
			return nil
		}
		fork := best
		for !c.onMain(fork) {
			fork = fork.parent
		}
		for c.tipNode() != fork {
			if err := c.disconnectTip(); err != nil {
				return c.fail(err)
			}
		}
		var path []*node
		for n := best; n != fork; n = n.parent {
			path = append(path, n)
		}
		for i := len(path) - 1; i >= 0; i-- {
			n := path[i]
			body, ok := known[n.id]
			if !ok {
				b, err := c.readBlock(n)
				if err != nil {
					return c.fail(err)
				}
				body = blockBody{b, b.TxIDs()}
			}
			err := c.connectTip(n, body.block, body.txids)
			var re *consensus.RuleError
			if errors.As(err, &re) {
				c.markInvalid(n)
				if c.lastRuleErr != nil {
					c.lastRuleErr[n.id] = err
				}
				break
			}
			if err != nil {
				return c.fail(err)
			}
		}
	}
}

// blockBody is a block in memory with its txids, hashed once.
type blockBody struct {
	block *wire.Block
	txids []wire.Hash
}

// markInvalid marks n and all its descendants invalid, and makes n's
// parent a candidate again (it may be the best valid block now).
func (c *Chain) markInvalid(n *node) {
	batch := new(leveldb.Batch)
	c.readMu.Lock()
	stack := []*node{n}
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m.status = (m.status | statusInvalid) &^ statusValid
		batch.Put(hashKey(prefixIndex, m.id), encodeIndexEntry(m.entry()))
		stack = append(stack, m.children...)
	}
	c.readMu.Unlock()
	c.cands.add(n.parent)
	if err := c.write(batch); err != nil {
		c.fail(fmt.Errorf("record invalid block %s: %w", n.id, err))
	}
}

// cacheView adapts the UTXO cache to consensus.CoinView for connectTip,
// which holds the cache's lock while the rules run. Every coin it finds
// is spent in the cache there and then: for a valid block the coins found
// are exactly those its inputs spend from the UTXO set (the overwrite
// check finds nothing), and finding and spending a coin in one access to
// the map, rather than a lookup and later a second one, halves the cache
// misses of a block's inputs. journal records what each spend replaced,
// and undo puts it back when the block fails (a rule, a signature, a
// write): until then readers see its inputs spent, its outputs not yet
// there. A storage error goes back to the rules with the lookup, which
// return it as it is: it is never read as a missing input.
type cacheView struct {
	u       *utxoCache
	ahead   map[wire.OutPoint]storedCoin // read ahead from the database, or nil
	journal []takenCoin
}

// takenCoin is one coin cacheView spent: the cache entry it replaced, or
// none (cached false) for a coin read from the database.
type takenCoin struct {
	op     wire.OutPoint
	prev   cacheEntry
	cached bool
}

// storedCoin is the answer of one database read.
type storedCoin struct {
	coin wire.Coin
	ok   bool
	err  error
}

// Coin finds and spends the coin at op. The caller holds v.u.mu.
func (v *cacheView) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	u := v.u
	if e, ok := u.entries[op]; ok {
		if e.spent {
			return wire.Coin{}, false, nil
		}
		v.journal = append(v.journal, takenCoin{op: op, prev: e, cached: true})
		if e.fresh {
			delete(u.entries, op) // never written: nothing to delete on disk
		} else {
			u.entries[op] = cacheEntry{spent: true, dirty: true}
		}
		return e.coin, true, nil
	}
	var (
		coin wire.Coin
		ok   bool
		err  error
	)
	if r, read := v.ahead[op]; read {
		coin, ok, err = r.coin, r.ok, r.err
	} else {
		coin, ok, err = u.stored(op)
	}
	if err != nil || !ok {
		return wire.Coin{}, false, err
	}
	v.journal = append(v.journal, takenCoin{op: op})
	u.entries[op] = cacheEntry{spent: true, dirty: true} // the next flush deletes it
	return coin, true, nil
}

// undo puts back every coin the view spent, newest first. The caller
// holds v.u.mu.
func (v *cacheView) undo() {
	for i := len(v.journal) - 1; i >= 0; i-- {
		t := &v.journal[i]
		if t.cached {
			v.u.entries[t.op] = t.prev
		} else {
			delete(v.u.entries, t.op)
		}
	}
	v.journal = v.journal[:0]
}

// readAheadMin is how many of a block's inputs must miss the cache before
// connectTip reads them in parallel rather than one at a time.
const readAheadMin = 64

// readAhead reads from the database, on Config.Workers goroutines, the
// coins b's inputs spend that the cache does not hold: during initial
// sync with signatures assumed valid, those reads are most of a full
// block's connect. It first looks at the first readAheadMin inputs, and
// goes on only if a quarter of them miss the cache: a block at the tip,
// whose coins are cached, costs that and no more. Outputs of b itself
// are looked up too and found missing; the rules resolve those from the
// block before the view. The answers are the database's as of now: only
// the chain's writer changes the UTXO set, and it is the caller.
func (c *Chain) readAhead(b *wire.Block) map[wire.OutPoint]storedCoin {
	if c.noReadAhead || c.cfg.Workers < 2 {
		return nil
	}
	inputs := func(limit int) func(yield func(wire.OutPoint) bool) {
		return func(yield func(wire.OutPoint) bool) {
			for _, tx := range b.Txs[1:] {
				for _, in := range tx.Inputs {
					if limit == 0 || !yield(in.Prev) {
						return
					}
					limit--
				}
			}
		}
	}
	if sample := c.utxo.uncached(inputs(readAheadMin)); len(sample) < readAheadMin/4 {
		return nil
	}
	miss := c.utxo.uncached(inputs(math.MaxInt))
	workers := min(c.cfg.Workers, len(miss)/(readAheadMin/2))
	if len(miss) < readAheadMin || workers < 2 {
		return nil
	}
	got := make([]storedCoin, len(miss))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(miss); i += workers {
				r := &got[i]
				r.coin, r.ok, r.err = c.utxo.stored(miss[i])
			}
		}()
	}
	wg.Wait()
	ahead := make(map[wire.OutPoint]storedCoin, len(miss))
	for i, op := range miss {
		ahead[op] = got[i]
	}
	return ahead
}

// checkSignatures verifies the signatures of every non-coinbase
// transaction on cfg.Workers goroutines and returns the first failure.
func (c *Chain) checkSignatures(b *wire.Block, txids []wire.Hash) error {
	workers := min(c.cfg.Workers, len(b.Txs)-1)
	if workers <= 1 {
		for i := 1; i < len(b.Txs); i++ {
			if err := consensus.CheckTxSignatures(b.Txs[i], txids[i], c.p.NetworkID, c.cfg.SigCache); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next   atomic.Int64 // the last transaction taken
		wg     sync.WaitGroup
		errMu  sync.Mutex
		first  error
		failed atomic.Bool
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1))
				if i >= len(b.Txs) {
					return
				}
				if err := consensus.CheckTxSignatures(b.Txs[i], txids[i], c.p.NetworkID, c.cfg.SigCache); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
						failed.Store(true)
					}
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// inlineSigTxs is the largest block (in transactions, the coinbase
// included) whose signatures connectTip checks before the rules rather
// than beside them.
const inlineSigTxs = 8

// connectTip validates b (whose header and sanity were checked on
// acceptance) against the UTXO set and connects it as the new tip: one
// batch with its undo data and index status, plus the UTXO changes and
// tip when the cache is flushed. txids are b's.
func (c *Chain) connectTip(n *node, b *wire.Block, txids []wire.Hash) error {
	sigDone := make(chan error, 1)
	switch {
	case c.assumedValid(n.height, n.id):
		sigDone <- nil // an ancestor of the assumed-valid block
	case len(b.Txs) <= inlineSigTxs:
		// Too few to overlap with the rules: a goroutine would only add
		// its wait for a CPU to every hop of a small block.
		sigDone <- c.checkSignatures(b, txids)
	default:
		go func() { sigDone <- c.checkSignatures(b, txids) }()
	}
	inputs := 0
	for _, tx := range b.Txs {
		inputs += len(tx.Inputs)
	}
	if cap(c.taken) < inputs {
		c.taken = make([]takenCoin, 0, inputs) // not grown by appends: a copy per doubling
	}
	view := &cacheView{u: c.utxo, ahead: c.readAhead(b), journal: c.taken[:0]}
	c.utxo.mu.Lock() // the view spends what it finds (cacheView)
	_, undo, err := consensus.CheckBlockConnectSpent(b, txids, n.height, view, c.p)
	c.utxo.mu.Unlock()
	// fail puts back the coins the view spent.
	fail := func(err error) error {
		c.utxo.mu.Lock()
		view.undo()
		c.utxo.mu.Unlock()
		c.taken = view.journal[:0]
		return err
	}
	if err != nil {
		<-sigDone
		return fail(err) // a rule error, or the storage error of a lookup
	}

	// undo holds the coin each input spends, in block order: from the
	// UTXO set, or (with the block's height, which no coin of the UTXO set
	// has) from an earlier transaction of the block. Outputs spent within
	// the block never reach the UTXO set; most blocks spend none of their
	// own outputs, so that case costs no map of the block's outputs.
	var inBlock map[wire.OutPoint]struct{} // outputs of the block spent in it
	k := 0
	for _, tx := range b.Txs[1:] {
		for _, in := range tx.Inputs {
			if undo[k].Height == n.height {
				if inBlock == nil {
					inBlock = make(map[wire.OutPoint]struct{})
				}
				inBlock[in.Prev] = struct{}{}
			}
			k++
		}
	}
	if len(view.journal) != len(undo)-len(inBlock) {
		// Every coin the view found is one an input spends; this is a bug.
		<-sigDone
		return fail(fmt.Errorf("connect block %s: the UTXO set gave %d coins for %d inputs", n.id, len(view.journal), len(undo)-len(inBlock)))
	}
	// The undo data goes to its file, and both files to disk, while the
	// signatures are still being checked: the fsyncs leave the CPU idle,
	// and the commit's syncFiles then waits for them instead of starting
	// them. A block that fails its signatures leaves an undo record
	// nothing points to, beside its body, which is stored already.
	if err := c.storeUndo(n, undo); err != nil {
		<-sigDone
		return fail(fmt.Errorf("store undo data of block %s: %w", n.id, err))
	}
	c.syncFilesEarly()
	if err := <-sigDone; err != nil {
		n.undo, n.hasUndo = blockfile.Pos{}, false
		return fail(err)
	}

	// Apply: every check has passed, the inputs are spent (the view did
	// it), nothing below can fail but the write.
	c.taken = view.journal[:0]
	c.utxo.mu.Lock() // once for the block, not once per coin
	for i, tx := range b.Txs {
		for j, o := range tx.Outputs {
			op := wire.OutPoint{TxID: txids[i], Index: uint32(j)}
			if _, gone := inBlock[op]; gone {
				continue
			}
			c.utxo.addLocked(op, wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: n.height, Coinbase: i == 0}, true)
		}
	}
	c.utxo.mu.Unlock()
	c.readMu.Lock()
	n.status |= statusValid
	c.readMu.Unlock()
	batch := new(leveldb.Batch)
	batch.Put(hashKey(prefixIndex, n.id), encodeIndexEntry(n.entry()))
	if len(c.cfg.Indexers) > 0 {
		c.ixlog.record(n.data, txids, n.height, undo, false)
	}

	c.readMu.Lock()
	c.main = append(c.main, n)
	c.readMu.Unlock()
	if err := c.commit(batch); err != nil {
		return err
	}
	c.publishTip()
	c.pending = append(c.pending, Event{Kind: BlockConnected, Block: b, ID: n.id, Height: n.height, TxIDs: txids})
	return nil
}

// disconnectTip undoes the tip block with its stored undo data.
func (c *Chain) disconnectTip() error {
	n := c.tipNode()
	if n.parent == nil {
		return errors.New("cannot disconnect the genesis block")
	}
	b, err := c.readBlock(n)
	if err != nil {
		return err
	}
	undo, err := c.readUndo(n)
	if err != nil {
		return err
	}
	spends := 0
	for _, tx := range b.Txs[1:] {
		spends += len(tx.Inputs)
	}
	if spends != len(undo) {
		return fmt.Errorf("%w: undo data of block %s has %d coins, block spends %d", ErrCorrupt, n.id, len(undo), spends)
	}
	txids := b.TxIDs()
	k := len(undo)
	for i := len(b.Txs) - 1; i >= 0; i-- {
		tx := b.Txs[i]
		for j := range tx.Outputs {
			c.utxo.spend(wire.OutPoint{TxID: txids[i], Index: uint32(j)})
		}
		if i == 0 {
			break
		}
		for j := len(tx.Inputs) - 1; j >= 0; j-- {
			k--
			c.utxo.add(tx.Inputs[j].Prev, undo[k], false)
		}
	}
	if len(c.cfg.Indexers) > 0 {
		c.ixlog.record(n.data, txids, n.height, undo, true)
	}
	c.readMu.Lock()
	c.main = c.main[:len(c.main)-1]
	c.readMu.Unlock()
	// The block may have to be the tip again if the branch replacing it
	// turns out invalid.
	c.cands.add(n)
	// Nothing of its own to write: the UTXO changes wait in the cache,
	// the index entries in the log.
	if err := c.commit(new(leveldb.Batch)); err != nil {
		return err
	}
	c.publishTip()
	c.pending = append(c.pending, Event{Kind: BlockDisconnected, Block: b, ID: n.id, Height: n.height, TxIDs: txids})
	return nil
}

// commit writes batch; when the UTXO cache (with the index log) is full
// it adds the cached UTXO changes, the index log and the tip (flushWith),
// so the stored UTXO set moves to the current tip in the same atomic
// write.
func (c *Chain) commit(batch *leveldb.Batch) error {
	if !c.cacheFull() {
		if batch.Len() == 0 {
			return nil
		}
		return c.write(batch)
	}
	return c.flushWith(batch)
}

// cacheFull reports whether the UTXO cache and the index log together
// have reached --dbcache.
func (c *Chain) cacheFull() bool { return c.utxo.full(c.ixlog.bytes()) }

// flushWith writes the index log, batch, the dirty coins of the UTXO
// cache and the tip in one atomic write: a large one as a LevelDB
// transaction (writeTables), straight into tables without the journal and
// without first copying every coin into a batch. The coins stay cached,
// clean, unless the cache needs the room.
func (c *Chain) flushWith(batch *leveldb.Batch) error {
	return c.ixlog.drain(func(ix *indexEntries) error {
		// In key order, LevelDB's memtable inserts are cheaper
		// (BenchmarkUTXOFlush).
		ops := c.utxo.takeDirty()
		slices.SortFunc(ops, compareOutPoints)
		tip := c.tipNode()
		batch.Put(keyTip, tip.id[:])
		if err := c.syncFiles(batch); err != nil {
			return fmt.Errorf("flush chain state: %w", err)
		}
		if err := c.writeAtomic(ix, ops, batch); err != nil {
			return fmt.Errorf("flush chain state: %w", err)
		}
		c.diskTip = tip
		c.utxo.afterFlush(c.utxo.full(0))
		return nil
	})
}

// writeAtomic writes ix's entries (if any), ops' coins from the UTXO cache
// and batch in one atomic write: past flushViaTables a LevelDB
// transaction, else one synced batch.
func (c *Chain) writeAtomic(ix *indexEntries, ops []wire.OutPoint, batch *leveldb.Batch) error {
	ixBytes := 0
	if ix != nil {
		ixBytes = ix.est
	}
	if len(ops)*flushRecordBytes+ixBytes+len(batch.Dump()) >= flushViaTables {
		return c.writeTables(func(tr *leveldb.Transaction) error {
			if ix != nil {
				if err := ix.each(func(b *leveldb.Batch) error { return tr.Write(b, nil) }); err != nil {
					return err
				}
			}
			if err := c.utxo.write(tr, ops); err != nil {
				return err
			}
			return tr.Write(batch, nil)
		})
	}
	all := c.utxo.batch(ops, len(batch.Dump())+ixBytes+64)
	if err := batch.Replay(all); err != nil {
		return err
	}
	if ix != nil {
		if err := ix.appendTo(all); err != nil {
			return err
		}
	}
	return c.db.Write(all, &opt.WriteOptions{Sync: !c.cfg.NoSync})
}

// flushViaTables is the size from which a flush is written as a LevelDB
// transaction: straight into tables, where the journal and then a table
// would write it twice (goleveldb does the same for one batch past its
// write buffer, 32 MiB here).
var flushViaTables = 4 << 20 // a variable for tests of both ways

// writeTables runs fill in a LevelDB transaction and commits it: atomic
// and durable at its commit (tables and manifest synced), without the
// journal.
func (c *Chain) writeTables(fill func(*leveldb.Transaction) error) error {
	tr, err := c.db.OpenTransaction()
	if err != nil {
		return err
	}
	if err := fill(tr); err != nil {
		tr.Discard()
		return err
	}
	if err := tr.Commit(); err != nil {
		tr.Discard()
		return err
	}
	return nil
}

// Flush writes the UTXO cache and the tip to disk.
func (c *Chain) Flush() error {
	c.process.Lock()
	defer c.process.Unlock()
	if err := c.Err(); err != nil {
		return err
	}
	if err := c.flushWith(new(leveldb.Batch)); err != nil {
		return c.fail(err)
	}
	return nil
}

// Close flushes the UTXO cache, closes the block files, and closes the
// database if Chain opened it.
func (c *Chain) Close() error {
	err := errors.Join(c.Flush(), c.closeFiles())
	if c.ownDB {
		if cerr := c.db.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// compareOutPoints orders outpoints as their coin keys sort.
func compareOutPoints(a, b wire.OutPoint) int {
	if c := bytes.Compare(a.TxID[:], b.TxID[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}
