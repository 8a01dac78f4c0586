package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/chain"
	"tally/consensus"
	"tally/internal/bounded"
	"tally/wire"
)

// Compact block relay (SPEC section 5, BIP 152; docs/p2p.md "Compact
// blocks"). A node that mines or is handed a block publishes its compact
// form on the cmpctblocks topic. A receiver rebuilds the block from the
// transactions it already has (pool, orphans, recently removed), asks the
// peer that delivered the announcement for the missing ones
// (getblocktxn/blocktxn on the sync protocol), checks the Merkle root,
// connects the block, and only then accepts the message, which gossipsub
// forwards unchanged. A short-id collision, a Merkle mismatch or a failed
// fetch falls back to the full block (getblocks), never penalizing anyone.

// Compact relay timing.
const (
	// blockTxnTimeout bounds asking the announcer for missing
	// transactions: a peer that announces and never serves costs this.
	blockTxnTimeout = 2 * time.Second
	// fullBlockWait bounds the fallback to the full block, over every
	// attempt; fullBlockTry bounds one attempt to one peer.
	fullBlockWait = 10 * time.Second
	fullBlockTry  = 3 * time.Second
	// fullBlockFanout is how many peers one fallback attempt asks at once.
	fullBlockFanout = 3
	// recentBlocks is how many rebuilt or published blocks are kept in
	// memory to answer getblocktxn without reading storage.
	recentBlocks = 4
)

// Sync protocol frames of compact relay.
const (
	msgGetBlockTxn byte = 0x08 // block id, ascending transaction indexes
	msgBlockTxn    byte = 0x09 // block id, the transactions asked for
)

// CompactTopic returns the compact-block topic name of a network.
func CompactTopic(networkID [4]byte) string {
	return fmt.Sprintf("/tally/%x/cmpctblocks/1", networkID[:])
}

// Errors of compact reconstruction. None is anyone's fault: each makes
// the receiver fall back to the full block.
var (
	// errShortIDCollision: two transactions of the announced block have
	// the same short id, so the block cannot be rebuilt from short ids.
	errShortIDCollision = errors.New("compact block: two of its transactions share a short id")
	// errMerkleMismatch: the rebuilt transactions do not hash to the
	// header's Merkle root (a collision with one of our transactions, or a
	// wrong announcement).
	errMerkleMismatch = errors.New("compact block: rebuilt transactions do not match the Merkle root")
	// errBlockTxnMismatch: a blocktxn answer does not fit the slots asked.
	errBlockTxnMismatch = errors.New("compact block: blocktxn answer does not match the short ids")
	// errBlockUnavailable: neither the announcer nor any other peer gave
	// us the block in time. Not a fault: the block may still come by sync.
	errBlockUnavailable = errors.New("compact block: block unavailable")
)

// knownTxs is what rebuilding needs of the mempool: every transaction the
// node has seen that a block may contain (mempool.Pool.ForEachKnownTx).
type knownTxs interface {
	ForEachKnownTx(fn func(txid wire.Hash, tx *wire.Tx) bool)
}

// partialBlock is a compact block being rebuilt: a slot per transaction,
// filled from the prefilled ones, from our transactions and from a
// blocktxn answer.
type partialBlock struct {
	cb     *wire.CompactBlock
	sid    func(wire.Hash) wire.ShortID // the block's short-id function
	txs    []*wire.Tx
	txids  []wire.Hash // set with txs: each slot's transaction id
	sids   []wire.ShortID
	fromUs int // transactions found among ours
}

// newPartialBlock places the prefilled transactions and matches the short
// ids against src. Two of our transactions matching one short id leave
// that slot missing (it is asked for, as Bitcoin Core does); two short ids
// of the block being equal is errShortIDCollision.
func newPartialBlock(cb *wire.CompactBlock, src knownTxs) (*partialBlock, error) {
	return newPartialBlockWith(cb, src, cb.Key().ShortID)
}

// newPartialBlockWith is newPartialBlock with the short-id function given
// (tests make collisions with it).
func newPartialBlockWith(cb *wire.CompactBlock, src knownTxs, sid func(wire.Hash) wire.ShortID) (*partialBlock, error) {
	n := cb.TxCount()
	pb := &partialBlock{cb: cb, sid: sid, txs: make([]*wire.Tx, n), txids: make([]wire.Hash, n), sids: make([]wire.ShortID, n)}
	prefilled := make([]bool, n)
	for _, p := range cb.Prefilled {
		pb.txs[p.Index], pb.txids[p.Index] = p.Tx, p.Tx.TxID()
		prefilled[p.Index] = true
	}
	slot := make(map[wire.ShortID]int, len(cb.ShortIDs))
	j := 0
	for i := 0; i < n; i++ {
		if prefilled[i] {
			continue
		}
		s := cb.ShortIDs[j]
		j++
		if _, dup := slot[s]; dup {
			return nil, errShortIDCollision
		}
		slot[s] = i
		pb.sids[i] = s
	}
	ambiguous := map[int]bool{}
	want := len(cb.ShortIDs)
	if want == 0 {
		return pb, nil // an empty block: nothing to look up
	}
	src.ForEachKnownTx(func(txid wire.Hash, tx *wire.Tx) bool {
		i, ok := slot[pb.sid(txid)]
		switch {
		case !ok || ambiguous[i]:
		case pb.txs[i] == nil:
			pb.txs[i], pb.txids[i] = tx, txid
			pb.fromUs++
		case pb.txids[i] != txid:
			// Two of ours share the block's short id: we cannot tell
			// which it is, so ask for it.
			ambiguous[i] = true
			pb.txs[i] = nil
			pb.fromUs--
		}
		return pb.fromUs < want || len(ambiguous) > 0
	})
	return pb, nil
}

// missing returns the indexes of the slots still empty, ascending.
func (pb *partialBlock) missing() []int {
	var out []int
	for i, tx := range pb.txs {
		if tx == nil {
			out = append(out, i)
		}
	}
	return out
}

// fill places the transactions of a blocktxn answer into the slots idx;
// each must have the short id of its slot.
func (pb *partialBlock) fill(idx []int, txs []*wire.Tx) error {
	if len(txs) != len(idx) {
		return fmt.Errorf("%w: %d transactions for %d slots", errBlockTxnMismatch, len(txs), len(idx))
	}
	for k, i := range idx {
		txid := txs[k].TxID()
		if pb.sid(txid) != pb.sids[i] {
			return fmt.Errorf("%w: transaction %s at index %d", errBlockTxnMismatch, txid, i)
		}
		pb.txs[i], pb.txids[i] = txs[k], txid
	}
	return nil
}

// block returns the rebuilt block once every slot is filled. Its Merkle
// root is left to the chain, which checks it before any other rule of the
// body (consensus.ErrBadMerkleRoot, read by checkCompact as
// errMerkleMismatch): checking it here too would hash the tree twice.
func (pb *partialBlock) block() (*wire.Block, error) {
	for i, tx := range pb.txs {
		if tx == nil {
			return nil, fmt.Errorf("compact block: slot %d still empty", i)
		}
	}
	return &wire.Block{Header: pb.cb.Header, Txs: pb.txs}, nil
}

// compactMatches reports whether cb is a faithful announcement of b: same
// header, the same transactions prefilled at their indexes, the short id
// of every other one. A full block fetched after a failed rebuild tells
// whether the announcement or our own transactions were wrong.
func compactMatches(cb *wire.CompactBlock, b *wire.Block) bool {
	if cb.Header != b.Header || cb.TxCount() != len(b.Txs) {
		return false
	}
	ids := b.TxIDs()
	k := cb.Key()
	j, p := 0, 0
	for i, id := range ids {
		if p < len(cb.Prefilled) && cb.Prefilled[p].Index == i {
			if cb.Prefilled[p].Tx.TxID() != id {
				return false
			}
			p++
			continue
		}
		if k.ShortID(id) != cb.ShortIDs[j] {
			return false
		}
		j++
	}
	return true
}

// compactState is the node's compact relay state.
type compactState struct {
	topicName string
	topic     *pubsub.Topic

	mu       sync.Mutex
	inflight map[wire.Hash]bool
	recent   []*wire.Block // last rebuilt or published blocks, newest last
	encoding []byte        // connectRebuilt's buffer, at most max_block_bytes

	gossiped gossipedTxs // prefill what did not go over the txs topic

	verdicts kindCounters
	stats    compactCounters
}

// maxGossipedTxs bounds gossipedTxs: several full blocks' worth of
// transactions (a few MB per node). A transaction gossiped longer ago is
// prefilled when we announce a block holding it: bytes, never a fault.
const maxGossipedTxs = 1 << 17

// gossipedTxs remembers which of the last maxGossipedTxs transactions
// went over the transactions topic (received, or published by us), by the
// first 8 bytes of their txids. A block we announce prefills the
// transactions that did not: our peers are unlikely to have them (BIP
// 152's advice), and asking for them would cost every hop a round trip.
// A wrong guess costs bytes or one getblocktxn, nothing else.
type gossipedTxs struct {
	mu  sync.Mutex
	ids *bounded.Map[uint64, struct{}] // nil until the first add
}

func txidKey(id wire.Hash) uint64 { return binary.LittleEndian.Uint64(id[:8]) }

// add records a transaction that went over the topic.
func (g *gossipedTxs) add(id wire.Hash) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ids == nil {
		g.ids = bounded.New[uint64, struct{}](maxGossipedTxs)
	}
	g.ids.Add(txidKey(id), struct{}{})
}

// prefill returns the indexes of b's transactions past the coinbase that
// did not go over the topic, as long as their encodings total at most
// limit bytes.
func (g *gossipedTxs) prefill(b *wire.Block, txids []wire.Hash, limit int) []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for i := 1; i < len(b.Txs); i++ {
		if _, ok := g.ids.Get(txidKey(txids[i])); ok {
			continue
		}
		if limit -= b.Txs[i].SerializeSize(); limit < 0 {
			break
		}
		out = append(out, i)
	}
	return out
}

type compactCounters struct {
	announced, rebuilt, fromPool, fetched, fetches       atomic.Uint64
	collisions, mismatches, fetchFailures, fullFallbacks atomic.Uint64
	unavailable, served, servedTxs                       atomic.Uint64
	decodeNs, rebuildNs, fetchNs, fallbackNs, connectNs  atomic.Uint64
	totalNs                                              atomic.Uint64
}

// CompactStats are the compact relay counters since start. Durations are
// sums over the Rebuilt blocks (FetchTime over Fetches).
type CompactStats struct {
	Announced     uint64 // compact blocks received from peers for blocks we lacked
	Rebuilt       uint64 // blocks connected from a compact announcement
	TxsFromPool   uint64 // transactions found among ours
	TxsFetched    uint64 // transactions fetched with getblocktxn
	Fetches       uint64 // getblocktxn exchanges
	Collisions    uint64 // block short ids colliding with each other
	Mismatches    uint64 // Merkle mismatches after rebuilding
	FetchFailures uint64 // getblocktxn exchanges that failed or timed out
	FullFallbacks uint64 // full blocks fetched after a failed rebuild
	Unavailable   uint64 // blocks given up on (left to the sync protocol)
	Served        uint64 // getblocktxn requests answered
	ServedTxs     uint64

	DecodeTime, RebuildTime, FetchTime, FallbackTime, ConnectTime, TotalTime time.Duration
}

// CompactStats returns a snapshot of the compact relay counters.
func (n *Node) CompactStats() CompactStats {
	s := &n.cmpct.stats
	d := func(a *atomic.Uint64) time.Duration { return time.Duration(a.Load()) }
	return CompactStats{
		Announced: s.announced.Load(), Rebuilt: s.rebuilt.Load(), TxsFromPool: s.fromPool.Load(),
		TxsFetched: s.fetched.Load(), Fetches: s.fetches.Load(), Collisions: s.collisions.Load(),
		Mismatches: s.mismatches.Load(), FetchFailures: s.fetchFailures.Load(), FullFallbacks: s.fullFallbacks.Load(),
		Unavailable: s.unavailable.Load(), Served: s.served.Load(), ServedTxs: s.servedTxs.Load(),
		DecodeTime: d(&s.decodeNs), RebuildTime: d(&s.rebuildNs), FetchTime: d(&s.fetchNs),
		FallbackTime: d(&s.fallbackNs), ConnectTime: d(&s.connectNs), TotalTime: d(&s.totalNs),
	}
}

func since(a *atomic.Uint64, t time.Time) time.Time {
	now := time.Now()
	a.Add(uint64(now.Sub(t)))
	return now
}

// startCompact joins the compact-block topic and registers its validator.
// startGossip calls it once the router exists, and subscribes to the topic
// with the others.
func (n *Node) startCompact(ps *pubsub.PubSub) error {
	c := &n.cmpct
	c.topicName = CompactTopic(n.p.NetworkID)
	if err := ps.RegisterTopicValidator(c.topicName, n.validateCompact, pubsub.WithValidatorConcurrency(2*queueSize)); err != nil {
		return err
	}
	t, err := ps.Join(c.topicName)
	if err != nil {
		return err
	}
	c.topic = t
	// Scored as the blocks topic: an invalid compact block is an invalid
	// block its relayer should have validated.
	if err := t.SetScoreParams(topicScore(1, 20, -100)); err != nil {
		return err
	}
	return nil // startGossip subscribes to c.topic with the other topics
}

// remember keeps b to answer getblocktxn from memory.
func (c *compactState) remember(b *wire.Block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recent = append(c.recent, b)
	if len(c.recent) > recentBlocks {
		c.recent = append(c.recent[:0], c.recent[len(c.recent)-recentBlocks:]...)
	}
}

func (c *compactState) lookup(id wire.Hash) *wire.Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.recent {
		if b.BlockID() == id {
			return b
		}
	}
	return nil
}

// begin marks id as being rebuilt; false if it already is.
func (c *compactState) begin(id wire.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight[id] {
		return false
	}
	c.inflight[id] = true
	return true
}

func (c *compactState) end(id wire.Hash) {
	c.mu.Lock()
	delete(c.inflight, id)
	c.mu.Unlock()
}

// publishCompact announces b (processed by this node) in compact form,
// with a fresh random nonce, as BIP 152 does, and prefilled: the coinbase
// and the transactions that never went over the transactions topic (up to
// a quarter of the block size limit, so that the announcement stays well
// within the topic's message limit).
func (n *Node) publishCompact(b *wire.Block) error {
	var nb [8]byte
	_, _ = rand.Read(nb[:])
	txids := b.TxIDs()
	prefill := n.cmpct.gossiped.prefill(b, txids, n.p.MaxBlockBytes/4)
	cb := wire.NewCompactBlock(b, txids, binary.LittleEndian.Uint64(nb[:]), prefill...)
	n.cmpct.remember(b)
	if err := n.cmpct.topic.Publish(n.runCtx(), cb.Encode()); err != nil {
		return fmt.Errorf("publish compact block %s: %w", b.BlockID(), err)
	}
	return nil
}

// legacyPeers reports whether a peer on the blocks topic does not take
// part in compact relay: only then is a full block worth publishing.
func (n *Node) legacyPeers() bool {
	ps, _, _ := n.gossip()
	if ps == nil {
		return false
	}
	compact := map[peer.ID]bool{}
	for _, p := range ps.ListPeers(n.cmpct.topicName) {
		compact[p] = true
	}
	for _, p := range ps.ListPeers(n.blocksTopic) {
		if !compact[p] {
			return true
		}
	}
	return false
}

// validateCompact is the compact-block topic validator. It accepts (and so
// forwards) an announcement only once the block it stands for is on our
// best chain, fully validated.
func (n *Node) validateCompact(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	local := from == n.self
	release, ok := n.admit(ctx, from, local, classBlock)
	if !ok {
		n.cmpct.verdicts.ignored.Add(1)
		return pubsub.ValidationIgnore
	}
	b, res, err := n.checkCompact(ctx, from, msg.Data, local)
	release()
	var v verdict
	switch {
	case errors.Is(err, errBlockUnavailable):
		v = verdict{Result: pubsub.ValidationIgnore, Reason: "block-unavailable"}
	case err == nil && res != chain.MainChain:
		v = verdict{Result: pubsub.ValidationIgnore, Reason: "side-chain"}
	default:
		v = judge(err)
	}
	n.account(&n.cmpct.verdicts, "compact block", from, local, v, err)
	if v.Orphan && !local {
		n.sync.orphanFrom(from)
	}
	if v.Result == pubsub.ValidationAccept && !local && b != nil {
		n.notePeerBlock(from, b.BlockID())
		// Peers that do not speak compact blocks get the full one, after
		// the verdict: listing a topic's peers waits on gossipsub's event
		// loop, and the compact block is forwarded only once we return.
		n.goFunc(func() {
			if !n.legacyPeers() {
				return
			}
			if _, blocks, _ := n.gossip(); blocks != nil {
				if err := blocks.Publish(n.runCtx(), b.Encode()); err != nil {
					n.log.Debug("publish full block for legacy peers", "err", err)
				}
			}
		})
	}
	return v.Result
}

// checkCompact decodes and checks an announcement, rebuilds its block and
// connects it. It returns the block when it has one.
func (n *Node) checkCompact(ctx context.Context, from peer.ID, data []byte, local bool) (*wire.Block, chain.Result, error) {
	s := &n.cmpct.stats
	t0 := time.Now()
	if len(data) > n.p.MaxBlockBytes {
		return nil, 0, oversize(consensus.ErrBlockTooBig, len(data), n.p.MaxBlockBytes)
	}
	cb, err := wire.DecodeCompactBlock(data, wire.MaxBlockTxs(n.p.MaxBlockBytes))
	if err != nil {
		return nil, 0, malformed(err)
	}
	id := cb.Header.BlockID()
	if err := consensus.CheckHeaderSanity(&cb.Header, id, n.p); err != nil {
		return nil, 0, err
	}
	if info, ok := n.chain.BlockInfo(id); ok {
		switch {
		case info.Invalid:
			return nil, 0, consensus.ErrKnownInvalid
		case local:
			// The node processed its own block before publishing it.
			return nil, chain.MainChain, nil
		}
		return nil, 0, consensus.ErrDuplicate
	}
	if parent, ok := n.chain.BlockInfo(cb.Header.PrevBlock); !ok {
		return nil, 0, consensus.ErrOrphan
	} else if parent.Invalid {
		return nil, 0, consensus.ErrKnownInvalid
	}
	if !n.cmpct.begin(id) {
		return nil, 0, consensus.ErrDuplicate // another announcement of it is being rebuilt
	}
	defer n.cmpct.end(id)
	s.announced.Add(1)
	t := since(&s.decodeNs, t0)

	src := chain.Source{Origin: chain.OriginGossip, Peer: from.String()}
	b, txids, err := n.rebuild(ctx, from, cb)
	t = since(&s.rebuildNs, t)
	var res chain.Result
	if err == nil {
		res, err = n.connectRebuilt(b, chain.Source{Origin: src.Origin, Peer: src.Peer, TxIDs: txids})
		t = since(&s.connectNs, t)
		if !errors.Is(err, consensus.ErrBadMerkleRoot) {
			since(&s.totalNs, t0)
			return n.rebuilt(b, res, err)
		}
		// One of our transactions shares a short id with one of the
		// block's, or the announcement is wrong: nobody's fault.
		s.mismatches.Add(1)
		err = errMerkleMismatch
	}
	n.log.Debug("compact block: falling back to the full block", "id", id, "peer", from, "err", err)
	b, err = n.fetchFullBlock(ctx, id, from, errors.Is(err, errBlockUnavailable))
	t = since(&s.fallbackNs, t)
	if err != nil {
		s.unavailable.Add(1)
		return nil, 0, err
	}
	s.fullFallbacks.Add(1)
	res, err = n.chain.ProcessBlockRaw(b, nil, src)
	since(&s.connectNs, t)
	since(&s.totalNs, t0)
	if _, m, ok := consensus.Classify(err); ok && m.BodyMismatch {
		// The fetched body, not the announcement, was wrong.
		return nil, 0, errBlockUnavailable
	}
	if err == nil && !compactMatches(cb, b) {
		// The block is good, the announcement of it is not: do not
		// forward it (no penalty: we cannot tell it from a collision).
		return b, 0, errBlockUnavailable
	}
	return n.rebuilt(b, res, err)
}

// connectRebuilt hands a rebuilt block to the chain with its encoding,
// built in the node's encoding buffer (the chain stores it as the block's
// body and does not retain it): a fresh megabyte per block costs several
// times as much to touch as to fill. A block over the size limit (which
// the chain refuses) is not encoded.
func (n *Node) connectRebuilt(b *wire.Block, src chain.Source) (chain.Result, error) {
	if b.SerializeSize() > n.p.MaxBlockBytes {
		return n.chain.ProcessBlockRaw(b, nil, src)
	}
	c := &n.cmpct
	c.mu.Lock()
	buf := c.encoding // nil while another block uses it: that one allocates
	c.encoding = nil
	c.mu.Unlock()
	if cap(buf) < n.p.MaxBlockBytes {
		// Room for any block at once: grown to each block's size, a
		// slightly larger block would reallocate the megabyte.
		buf = make([]byte, 0, n.p.MaxBlockBytes)
	}
	buf = b.AppendEncoding(buf[:0])
	res, err := n.chain.ProcessBlockRaw(b, buf, src)
	c.mu.Lock()
	c.encoding = buf
	c.mu.Unlock()
	return res, err
}

// rebuilt counts and keeps a block checkCompact connected (err == nil).
func (n *Node) rebuilt(b *wire.Block, res chain.Result, err error) (*wire.Block, chain.Result, error) {
	if err == nil {
		n.cmpct.stats.rebuilt.Add(1)
		n.cmpct.remember(b)
	}
	return b, res, err
}

// rebuild rebuilds cb's block from our transactions and those the
// announcer sends on request, and returns it with its transaction ids
// (known with the transactions: the chain need not hash them again). An
// error means: fall back to the full block (errBlockUnavailable: the
// announcer did not serve; do not ask it again).
func (n *Node) rebuild(ctx context.Context, from peer.ID, cb *wire.CompactBlock) (*wire.Block, []wire.Hash, error) {
	s := &n.cmpct.stats
	pb, err := newPartialBlock(cb, n.pool)
	if err != nil {
		s.collisions.Add(1)
		return nil, nil, err
	}
	s.fromPool.Add(uint64(pb.fromUs))
	if miss := pb.missing(); len(miss) > 0 {
		t := time.Now()
		s.fetches.Add(1)
		txs, err := n.requestBlockTxn(ctx, from, cb.Header.BlockID(), miss)
		since(&s.fetchNs, t)
		if err == nil {
			err = pb.fill(miss, txs)
		}
		if err != nil {
			s.fetchFailures.Add(1)
			return nil, nil, fmt.Errorf("%w: getblocktxn from %s: %v", errBlockUnavailable, from, err)
		}
		s.fetched.Add(uint64(len(miss)))
	}
	b, err := pb.block()
	if err != nil {
		return nil, nil, err
	}
	return b, pb.txids, nil
}

// fetchFullBlock gets block id with getblocks after a failed rebuild,
// within fullBlockWait: from the announcer first unless it failed to serve
// (skipAnnouncer), then from up to fullBlockFanout other peers at a time.
// It stops early when the block arrived another way.
func (n *Node) fetchFullBlock(ctx context.Context, id wire.Hash, announcer peer.ID, skipAnnouncer bool) (*wire.Block, error) {
	ctx, cancel := withTimeout(ctx, n.clock, fullBlockWait)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if n.chain.HasBlock(id) {
			return nil, consensus.ErrDuplicate
		}
		var ps []peer.ID
		if !skipAnnouncer && announcer != n.self {
			ps = append(ps, announcer)
		}
		others := n.peerSnapshot()
		mrand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		for _, o := range others {
			if len(ps) < fullBlockFanout && o.speaks && o.id != announcer {
				ps = append(ps, o.id)
			}
		}
		if b := n.askBlock(ctx, id, ps); b != nil {
			return b, nil
		}
		if !sleep(ctx, n.clock, time.Duration(100*(attempt+1))*time.Millisecond) {
			return nil, fmt.Errorf("%w: %s from %d attempts", errBlockUnavailable, id, attempt+1)
		}
	}
}

// askBlock asks the peers at once for one block and returns the first
// good answer, or nil.
func (n *Node) askBlock(ctx context.Context, id wire.Hash, ps []peer.ID) *wire.Block {
	if len(ps) == 0 {
		return nil
	}
	ctx, cancel := withTimeout(ctx, n.clock, fullBlockTry)
	defer cancel()
	got := make(chan *wire.Block, len(ps))
	for _, p := range ps {
		go func() {
			ans, err := n.requestBlocks(ctx, p, []wire.Hash{id}, nil)
			if err != nil {
				got <- nil
				return
			}
			got <- ans.blocks[0]
		}()
	}
	for range ps {
		if b := <-got; b != nil {
			return b
		}
	}
	return nil
}

// getBlockTxn asks for transactions of a block by index.
type getBlockTxn struct {
	ID      wire.Hash
	Indexes []int
}

func encodeGetBlockTxn(g getBlockTxn) []byte {
	b := append([]byte(nil), g.ID[:]...)
	b = binary.AppendUvarint(b, uint64(len(g.Indexes)))
	for _, i := range g.Indexes {
		b = binary.AppendUvarint(b, uint64(i))
	}
	return b
}

// decodeGetBlockTxn decodes a getblocktxn payload: at least one index, at
// most maxTxs, strictly ascending.
func decodeGetBlockTxn(b []byte, maxTxs int) (getBlockTxn, error) {
	var g getBlockTxn
	if len(b) < 32 {
		return g, garbage("getblocktxn of %d bytes", len(b))
	}
	copy(g.ID[:], b)
	n, rest, err := readCount(b[32:], uint64(min(maxTxs, len(b)-32)), "index count")
	if err != nil {
		return g, err
	}
	if n == 0 {
		return g, garbage("getblocktxn with no index")
	}
	g.Indexes = make([]int, 0, n)
	for k := uint64(0); k < n; k++ {
		var v uint64
		if v, rest, err = readCount(rest, uint64(maxTxs-1), "index"); err != nil {
			return g, err
		}
		if k > 0 && int(v) <= g.Indexes[k-1] {
			return g, garbage("getblocktxn index %d after %d: not ascending", v, g.Indexes[k-1])
		}
		g.Indexes = append(g.Indexes, int(v))
	}
	if len(rest) != 0 {
		return g, garbage("getblocktxn: %d trailing bytes", len(rest))
	}
	return g, nil
}

// maxGetBlockTxnFrame bounds a getblocktxn frame: every index of the
// largest block, 3 varint bytes each.
func (n *Node) maxGetBlockTxnFrame() int {
	return 1 + 32 + 3 + 3*wire.MaxBlockTxs(n.p.MaxBlockBytes)
}

// maxBlockTxnFrame bounds a blocktxn frame: the largest block's
// transactions.
func (n *Node) maxBlockTxnFrame() int { return 1 + 32 + 3 + n.p.MaxBlockBytes }

// serveBlockTxn answers a getblocktxn with the transactions asked, or
// notfound when we do not have the block. An index outside the block is
// a protocol violation.
func (n *Node) serveBlockTxn(w *bufio.Writer, payload []byte) error {
	g, err := decodeGetBlockTxn(payload, wire.MaxBlockTxs(n.p.MaxBlockBytes))
	if err != nil {
		return err
	}
	b := n.cmpct.lookup(g.ID)
	if b == nil {
		if b, err = n.chain.Block(g.ID); err != nil {
			if !errors.Is(err, chain.ErrNotFound) {
				n.log.Error("read block to serve", "id", g.ID, "err", err)
			}
			if err := writeFrame(w, msgNotFound, g.ID[:]); err != nil {
				return err
			}
			return w.Flush()
		}
	}
	if last := g.Indexes[len(g.Indexes)-1]; last >= len(b.Txs) {
		return garbage("getblocktxn index %d of a %d-transaction block", last, len(b.Txs))
	}
	txs := make([]*wire.Tx, len(g.Indexes))
	for k, i := range g.Indexes {
		txs[k] = b.Txs[i]
	}
	n.cmpct.stats.served.Add(1)
	n.cmpct.stats.servedTxs.Add(uint64(len(txs)))
	if err := writeFrame(w, msgBlockTxn, wire.AppendTxs(append([]byte(nil), g.ID[:]...), txs)); err != nil {
		return err
	}
	return w.Flush()
}

// errBlockTxnNotFound: the peer answered a getblocktxn with notfound, which
// is no fault (it may have pruned the block or never had it).
var errBlockTxnNotFound = errors.New("peer does not have the block")

// decodeBlockTxn checks the answer frame to a getblocktxn for block id and
// decodes its want transactions.
func decodeBlockTxn(typ byte, payload []byte, id wire.Hash, want int) ([]*wire.Tx, error) {
	switch {
	case typ == msgNotFound && len(payload) == 32 && wire.Hash(payload) == id:
		return nil, errBlockTxnNotFound
	case typ != msgBlockTxn:
		return nil, garbage("answer type %#x to getblocktxn", typ)
	case len(payload) < 32 || wire.Hash(payload[:32]) != id:
		return nil, garbage("blocktxn for another block")
	}
	txs, err := wire.DecodeTxs(payload[32:], want)
	if err != nil {
		return nil, garbage("blocktxn: %v", err)
	}
	return txs, nil
}

// requestBlockTxn asks a peer for transactions of a block by index,
// within blockTxnTimeout.
func (n *Node) requestBlockTxn(ctx context.Context, p peer.ID, id wire.Hash, idx []int) ([]*wire.Tx, error) {
	ctx, cancel := withTimeout(ctx, n.clock, blockTxnTimeout)
	defer cancel()
	s, err := n.openRequest(ctx, p, msgGetBlockTxn, encodeGetBlockTxn(getBlockTxn{ID: id, Indexes: idx}))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	typ, payload, err := readFrame(s, n.maxBlockTxnFrame())
	var txs []*wire.Tx
	if err == nil {
		txs, err = decodeBlockTxn(typ, payload, id, len(idx))
	}
	if err != nil && !errors.Is(err, errBlockTxnNotFound) {
		n.streamError(p, s, err, "blocktxn answer")
	}
	return txs, err
}
