package p2p

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"tally/chain"
	"tally/mempool"
	"tally/wire"
)

// Relay-later bounds (docs/p2p.md, "Gossip").
const (
	// maxLaterTxs bounds the transactions remembered for relay once
	// their parents arrive (the pool keeps the orphans themselves).
	maxLaterTxs = 1024
	// maxLaterBlocks bounds the ids of blocks left unrelayed (orphans,
	// side branches) that are relayed if they join the best chain.
	maxLaterBlocks = 1024
	// maxFutureBlocks bounds the blocks kept because our clock has not
	// reached their time yet.
	maxFutureBlocks = 32
	// futureRetry spaces the retries of blocks from the future.
	futureRetry = time.Second

	// A validator may hold an orphan (transaction or block) or a
	// side-branch block this long, waiting for it to be accepted, so that
	// gossipsub forwards the original message then: a message it has seen
	// cannot be published again until its seen cache forgets it.
	holdTx    = 30 * time.Second
	holdBlock = 30 * time.Second
	// Held messages per peer and in all.
	maxHeldPerPeerTx    = 32
	maxHeldPerPeerBlock = 4
	maxHeld             = 1024
)

// relayer relays what was accepted after its gossip validation answered
// Ignore: an orphan transaction whose parent arrived later, an orphan or
// side-branch block that joined the best chain, and a block from the
// future that our clock has reached. Gossipsub relays only what a
// validator accepted, so without this a chain of unconfirmed
// transactions stops one hop from its origin.
type relayer struct {
	n *Node

	mu       sync.Mutex
	txs      map[wire.Hash]laterTx     // orphan txid -> its transaction
	byParent map[wire.Hash][]wire.Hash // parent txid -> orphan txids
	txSeq    uint64
	blocks   map[wire.Hash]uint64 // block ids to relay once connected -> sequence
	blockSeq uint64
	future   []futureBlock

	held       map[wire.Hash][]chan struct{} // held validations by id
	heldByPeer map[peer.ID]int
	heldTotal  int
}

type laterTx struct {
	tx  *wire.Tx
	seq uint64
}

type futureBlock struct {
	b    *wire.Block
	raw  []byte
	from peer.ID
}

func newRelayer(n *Node) *relayer {
	return &relayer{n: n, txs: make(map[wire.Hash]laterTx), byParent: make(map[wire.Hash][]wire.Hash), blocks: make(map[wire.Hash]uint64),
		held: make(map[wire.Hash][]chan struct{}), heldByPeer: make(map[peer.ID]int)}
}

// hold waits until id is accepted (notify), d passes or ctx ends; it
// reports whether id was accepted meanwhile. done tells whether id was
// accepted already: it is asked once the hold is registered, so that an
// acceptance racing the caller is not missed. When the peer or the node
// already holds its share, it returns false at once.
func (r *relayer) hold(ctx context.Context, id wire.Hash, from peer.ID, perPeer int, d time.Duration, done func() bool) bool {
	ch := make(chan struct{})
	r.mu.Lock()
	if r.heldByPeer[from] >= perPeer || r.heldTotal >= maxHeld {
		r.mu.Unlock()
		return false
	}
	r.held[id] = append(r.held[id], ch)
	r.heldByPeer[from]++
	r.heldTotal++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		chs := r.held[id]
		for i, c := range chs {
			if c == ch {
				chs = append(chs[:i], chs[i+1:]...)
				break
			}
		}
		if len(chs) == 0 {
			delete(r.held, id)
		} else {
			r.held[id] = chs
		}
		if r.heldByPeer[from]--; r.heldByPeer[from] <= 0 {
			delete(r.heldByPeer, from)
		}
		r.heldTotal--
		r.mu.Unlock()
	}()
	if done() {
		return true
	}
	hctx, cancel := withTimeout(ctx, r.n.clock, d)
	defer cancel()
	select {
	case <-ch:
		return true
	case <-hctx.Done():
		return false
	}
}

// notify releases the validations holding id; it reports whether there
// was one (which then forwards the message itself).
func (r *relayer) notify(id wire.Hash) bool {
	r.mu.Lock()
	chs := r.held[id]
	delete(r.held, id)
	r.mu.Unlock()
	for _, ch := range chs {
		close(ch)
	}
	return len(chs) > 0
}

// orphanTx remembers a transaction the pool kept as an orphan.
func (r *relayer) orphanTx(tx *wire.Tx, txid wire.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.txs[txid]; ok {
		return
	}
	if len(r.txs) >= maxLaterTxs {
		r.dropTxLocked(oldest(r.txs, func(lt laterTx) uint64 { return lt.seq }))
	}
	r.txSeq++
	r.txs[txid] = laterTx{tx: tx, seq: r.txSeq}
	for _, in := range tx.Inputs {
		r.byParent[in.Prev.TxID] = append(r.byParent[in.Prev.TxID], txid)
	}
}

func (r *relayer) dropTxLocked(txid wire.Hash) {
	lt, ok := r.txs[txid]
	if !ok {
		return
	}
	delete(r.txs, txid)
	for _, in := range lt.tx.Inputs {
		kids := r.byParent[in.Prev.TxID]
		for i, k := range kids {
			if k == txid {
				kids = append(kids[:i], kids[i+1:]...)
				break
			}
		}
		if len(kids) == 0 {
			delete(r.byParent, in.Prev.TxID)
		} else {
			r.byParent[in.Prev.TxID] = kids
		}
	}
}

// txAccepted publishes the remembered orphans of txid that the pool has
// now accepted, and theirs in turn.
func (r *relayer) txAccepted(txid wire.Hash) {
	queue := []wire.Hash{txid}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		r.mu.Lock()
		var ready []*wire.Tx
		for _, kid := range r.byParent[parent] {
			if lt, ok := r.txs[kid]; ok && r.n.pool.Has(kid) {
				ready = append(ready, lt.tx)
			}
		}
		for _, tx := range ready {
			r.dropTxLocked(tx.TxID())
		}
		r.mu.Unlock()
		for _, tx := range ready {
			r.n.stats.relayedLater.Add(1)
			if !r.notify(tx.TxID()) {
				// Nobody holds it any more: publish (it goes out once
				// gossipsub's seen cache has forgotten it).
				r.n.RelayTx(tx)
			}
			queue = append(queue, tx.TxID())
		}
	}
}

// oldest returns the key of m's entry with the lowest sequence number.
func oldest[V any](m map[wire.Hash]V, seq func(V) uint64) wire.Hash {
	var id wire.Hash
	low := ^uint64(0)
	for k, v := range m {
		if s := seq(v); s < low {
			id, low = k, s
		}
	}
	return id
}

// laterBlock remembers a block id left unrelayed (an orphan, a side
// branch) to relay if it joins the best chain.
func (r *relayer) laterBlock(id wire.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.blocks[id]; ok {
		return
	}
	if len(r.blocks) >= maxLaterBlocks {
		delete(r.blocks, oldest(r.blocks, func(s uint64) uint64 { return s }))
	}
	r.blockSeq++
	r.blocks[id] = r.blockSeq
}

// connected is told of each block joining the best chain, in chain order.
func (r *relayer) connected(ev chain.Event) {
	held := r.notify(ev.ID)
	r.mu.Lock()
	_, later := r.blocks[ev.ID]
	delete(r.blocks, ev.ID)
	r.mu.Unlock()
	if later && !held && ev.Block != nil {
		r.n.stats.relayedLater.Add(1)
		b := ev.Block
		r.n.goFunc(func() { r.n.RelayBlock(b) })
	}
}

// keepFuture keeps a block our clock finds too far in the future, to try
// again when the clock reaches it (bounded; the oldest goes first).
func (r *relayer) keepFuture(b *wire.Block, raw []byte, from peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := b.BlockID()
	for _, fb := range r.future {
		if fb.b.BlockID() == id {
			return
		}
	}
	if len(r.future) >= maxFutureBlocks {
		r.future = r.future[1:]
	}
	r.future = append(r.future, futureBlock{b: b, raw: append([]byte(nil), raw...), from: from})
	r.n.stats.futureKept.Add(1)
}

// futureLoop retries the kept blocks from the future once our clock
// allows them, and relays those that join the best chain.
func (r *relayer) futureLoop(ctx context.Context) {
	t := newTicker(r.n.clock, futureRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.retryFuture()
	}
}

// retryFuture processes the kept blocks whose time has come.
func (r *relayer) retryFuture() {
	now := r.n.clock.Now().Unix()
	r.mu.Lock()
	var due []futureBlock
	keep := r.future[:0]
	for _, fb := range r.future {
		if int64(fb.b.Header.Time) <= now+r.n.p.MaxFutureSeconds {
			due = append(due, fb)
		} else {
			keep = append(keep, fb)
		}
	}
	r.future = keep
	r.mu.Unlock()
	for _, fb := range due {
		res, err := r.n.chain.ProcessBlockRaw(fb.b, fb.raw, chain.Source{Origin: chain.OriginGossip, Peer: fb.from.String()})
		switch {
		case err == nil && res == chain.MainChain:
			r.n.RelayBlock(fb.b)
		case errors.Is(err, chain.ErrOrphan) || err == nil:
			r.laterBlock(fb.b.BlockID())
		}
	}
}

// isOrphanTx reports whether the pool kept tx as an orphan.
func isOrphanTx(err error) bool { return errors.Is(err, mempool.ErrMissingInputs) }
