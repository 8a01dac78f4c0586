package p2p

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"tally/consensus"
	"tally/wire"
)

// Sync tuning (docs/p2p.md, "Sync").
const (
	// maxRoundHeaders: headers gathered before their bodies are fetched,
	// once they lead to more work than our tip.
	maxRoundHeaders = 20000
	// maxHeaderChain bounds the headers held while looking for more work
	// than our tip (a deep fork); past it the peer is penalized.
	maxHeaderChain = 250000
	// fetchChunk: ids per getblocks request.
	fetchChunk = 16
	// fetchWindow: blocks beyond the next to connect that may be asked.
	fetchWindow = 512
	// fetchBuffer bounds the bytes of fetched blocks waiting to connect.
	fetchBuffer = 64 << 20
	// inflightPerPeer: concurrent getblocks per peer.
	inflightPerPeer = 2
	// maxFetchPeers: peers asked for bodies in parallel.
	maxFetchPeers = 8
	// blocksTimeout bounds one getblocks exchange.
	blocksTimeout = 30 * time.Second
	// stallTimeout: when the next block to connect has been asked this
	// long ago, ask another peer for it.
	stallTimeout = 4 * time.Second
	// peerFailures: failed or stalled requests before a peer is dropped
	// from a round.
	peerFailures = 3
	// retryAfter: a peer that gave nothing useful is not picked again for
	// this long (its next status may change that).
	retryAfter = 10 * time.Second
	// shortChain: a low-work header chain up to this long may be a race.
	shortChain = 10
	// behindForTxs: while the best header chain we are fetching is more
	// than this many blocks above our tip, gossiped txs are ignored.
	behindForTxs = 6
)

var (
	errLowWork  = errors.New("header chain has no more work than our tip")
	errBadChain = errors.New("header chain breaks a rule")
	errNoPeers  = errors.New("no peer left to fetch from")
)

// syncer runs headers-first sync: one round at a time, from the peer with
// the most announced work. See docs/p2p.md.
type syncer struct {
	n      *Node
	wakeCh chan struct{}
	active atomic.Bool
	// target is the height of the header chain being fetched.
	target atomic.Uint64

	mu       sync.Mutex
	orphanAt map[peer.ID]time.Time
	failed   map[peer.ID]time.Time // owned by run
}

func newSyncer(n *Node) *syncer {
	return &syncer{n: n, wakeCh: make(chan struct{}, 1), orphanAt: make(map[peer.ID]time.Time), failed: make(map[peer.ID]time.Time)}
}

func (s *syncer) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// orphanFrom: a peer relayed a block whose parent we lack; ask it for its
// status (at most once a second per peer), which starts a sync if it has
// more work.
func (s *syncer) orphanFrom(p peer.ID) {
	s.mu.Lock()
	last := s.orphanAt[p]
	now := time.Now()
	if now.Sub(last) < time.Second {
		s.mu.Unlock()
		return
	}
	s.orphanAt[p] = now
	if len(s.orphanAt) > 1024 {
		for id, t := range s.orphanAt {
			if now.Sub(t) > time.Minute {
				delete(s.orphanAt, id)
			}
		}
	}
	s.mu.Unlock()
	go s.n.exchangeStatus(p)
}

// farBehind reports whether the node is fetching a header chain well
// above its tip (initial sync).
func (s *syncer) farBehind() bool {
	return s.active.Load() && s.target.Load() > s.n.chain.Tip().Height+behindForTxs
}

func (s *syncer) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wakeCh:
		case <-t.C:
		}
		for ctx.Err() == nil {
			p, ok := s.pick()
			if !ok {
				break
			}
			s.active.Store(true)
			progress, err := s.syncFrom(ctx, p)
			s.active.Store(false)
			s.target.Store(0)
			if err != nil && ctx.Err() == nil {
				s.n.log.Info("sync round ended", "peer", p, "err", err)
			}
			if err != nil || !progress {
				s.failed[p] = time.Now()
			}
		}
	}
}

// pick returns the peer with the most announced work above our tip's.
func (s *syncer) pick() (peer.ID, bool) {
	tip := s.n.chain.Tip()
	var best *peerState
	peers := s.n.peerSnapshot()
	for i := range peers {
		ps := &peers[i]
		if !ps.speaks || ps.work.Cmp(tip.Work) <= 0 || time.Since(s.failed[ps.id]) < retryAfter {
			continue
		}
		if best == nil || ps.work.Cmp(best.work) > 0 {
			best = ps
		}
	}
	if best == nil {
		return "", false
	}
	return best.id, true
}

// announced returns the work a peer last announced.
func (s *syncer) announced(p peer.ID) *big.Int {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if ps := s.n.peers[p]; ps != nil && ps.work != nil {
		return new(big.Int).Set(ps.work)
	}
	return nil
}

// pendingHdr is a checked header whose body we do not have yet.
type pendingHdr struct {
	id     wire.Hash
	header wire.Header
	height uint64
	work   *big.Int // cumulative
}

// hdrCtx is what checking the next header needs of its parent.
type hdrCtx struct {
	id     wire.Hash
	height uint64
	work   *big.Int
	times  []uint64 // up to 11 block times ending at this block, oldest first
}

func (c hdrCtx) parent() consensus.Parent {
	return consensus.Parent{Height: c.height, Time: c.times[len(c.times)-1], MedianTime: consensus.MedianTime(c.times)}
}

func (c hdrCtx) child(h *wire.Header, id wire.Hash) hdrCtx {
	times := append(append([]uint64(nil), c.times[max(0, len(c.times)-10):]...), h.Time)
	return hdrCtx{id: id, height: c.height + 1, work: new(big.Int).Add(c.work, consensus.CalcWork(h.Bits)), times: times}
}

// ctxFromIndex builds the header context of a stored block.
func (s *syncer) ctxFromIndex(id wire.Hash) (hdrCtx, bool) {
	info, ok := s.n.chain.BlockInfo(id)
	if !ok {
		return hdrCtx{}, false
	}
	c := hdrCtx{id: id, height: info.Height, work: info.Work}
	times := []uint64{info.Header.Time}
	prev := info.Header.PrevBlock
	for len(times) < 11 && info.Height > 0 {
		pi, ok := s.n.chain.BlockInfo(prev)
		if !ok {
			break
		}
		times = append(times, pi.Header.Time)
		prev, info = pi.Header.PrevBlock, pi
	}
	for i, j := 0, len(times)-1; i < j; i, j = i+1, j-1 {
		times[i], times[j] = times[j], times[i]
	}
	c.times = times
	return c, true
}

// syncFrom runs rounds against one peer until it has nothing more: fetch
// and check headers, then fetch bodies from several peers and connect
// them. progress reports whether any block was connected.
func (s *syncer) syncFrom(ctx context.Context, p peer.ID) (progress bool, err error) {
	for ctx.Err() == nil {
		s.n.stats.syncRounds.Add(1)
		hdrs, more, err := s.fetchHeaders(ctx, p, s.announced(p))
		if err != nil {
			return progress, err
		}
		if len(hdrs) == 0 {
			if !progress {
				// It announced more work and gave nothing.
				s.n.misbehave(p, penaltyLowWorkShort, "announced more work, sent no headers")
			}
			return progress, nil
		}
		s.target.Store(hdrs[len(hdrs)-1].height)
		done, err := s.fetchBodies(ctx, p, hdrs)
		progress = progress || done > 0
		if err != nil {
			return progress, err
		}
		if !more {
			return progress, nil
		}
	}
	return progress, ctx.Err()
}

// fetchHeaders gathers and checks a header chain from p that leads to
// more work than our tip. more reports that p has further headers.
func (s *syncer) fetchHeaders(ctx context.Context, p peer.ID, announced *big.Int) (hdrs []pendingHdr, more bool, err error) {
	n := s.n
	base := n.chain.Locator()
	var cur hdrCtx
	haveCur := false
	tipWork := n.chain.Tip().Work
	tooNew := false // the peer's chain goes on past our clock
	for iter := 0; iter < 2*maxHeaderChain/MaxHeadersPerMsg; iter++ {
		loc := base
		if haveCur {
			loc = append([]wire.Hash{cur.id}, base...)
		}
		if len(loc) > MaxLocatorIDs {
			loc = append(loc[:MaxLocatorIDs-1], n.p.GenesisID)
		}
		resp, err := n.requestHeaders(ctx, p, loc)
		if err != nil {
			return nil, false, err
		}
		n.stats.syncHeaders.Add(uint64(len(resp)))
		if len(resp) == 0 {
			break
		}
		// Where does the answer attach? To our last checked header, or
		// (the peer answered from an earlier locator entry) to a stored
		// block, which starts the chain afresh.
		i := 0
		switch {
		case haveCur && resp[0].PrevBlock == cur.id:
		default:
			c, ok := s.ctxFromIndex(resp[0].PrevBlock)
			if !ok {
				n.misbehave(p, penaltyGarbage, "headers that attach to nothing we know")
				return nil, false, fmt.Errorf("%w: headers do not attach", errBadChain)
			}
			if info, _ := n.chain.BlockInfo(resp[0].PrevBlock); info.Invalid {
				n.misbehave(p, penaltyBadHeaders, "headers on a block known invalid")
				return nil, false, fmt.Errorf("%w: parent %s is known invalid", errBadChain, resp[0].PrevBlock)
			}
			cur, haveCur, hdrs = c, true, nil
			// Skip headers we already store.
			for i < len(resp) {
				id := resp[i].BlockID()
				info, ok := n.chain.BlockInfo(id)
				if !ok {
					break
				}
				if info.Invalid {
					n.misbehave(p, penaltyBadHeaders, "headers of a block known invalid")
					return nil, false, fmt.Errorf("%w: block %s is known invalid", errBadChain, id)
				}
				if resp[i].PrevBlock != cur.id {
					n.misbehave(p, penaltyBadHeaders, "headers not linked")
					return nil, false, fmt.Errorf("%w: headers not linked", errBadChain)
				}
				if cur, ok = s.ctxFromIndex(id); !ok {
					return nil, false, fmt.Errorf("block %s left the index", id)
				}
				i++
			}
		}
		now := n.cfg.Now().Unix()
		for ; i < len(resp); i++ {
			h := &resp[i]
			id := h.BlockID()
			if h.PrevBlock != cur.id {
				n.misbehave(p, penaltyBadHeaders, "headers not linked")
				return nil, false, fmt.Errorf("%w: header %s does not follow %s", errBadChain, id, cur.id)
			}
			if err := consensus.CheckHeaderSanity(h, id, n.p); err != nil {
				n.misbehave(p, penaltyBadHeaders, "bad header: "+err.Error())
				return nil, false, fmt.Errorf("%w: %v", errBadChain, err)
			}
			if err := consensus.CheckHeaderContext(h, cur.parent(), n.p, now); err != nil {
				if _, m, _ := consensus.Classify(err); m.RetryLater {
					tooNew = true // not invalid (a block from the future): stop here, try later
					break
				}
				n.misbehave(p, penaltyBadHeaders, "bad header: "+err.Error())
				return nil, false, fmt.Errorf("%w: %v", errBadChain, err)
			}
			cur = cur.child(h, id)
			hdrs = append(hdrs, pendingHdr{id: id, header: *h, height: cur.height, work: cur.work})
		}
		above := len(hdrs) > 0 && cur.work.Cmp(tipWork) > 0
		if tooNew || len(resp) < MaxHeadersPerMsg {
			break
		}
		if above && len(hdrs) >= maxRoundHeaders {
			return hdrs, true, nil
		}
		if len(hdrs) >= maxHeaderChain {
			break
		}
	}
	if len(hdrs) > 0 && cur.work.Cmp(tipWork) <= 0 {
		pts := float64(penaltyLowWork)
		if len(hdrs) <= shortChain {
			pts = penaltyLowWorkShort
		}
		if !tooNew && announced != nil && cur.work.Cmp(announced) < 0 {
			// Its chain only grows in work: it announced work it
			// does not have.
			pts += penaltyLowWork
		}
		n.misbehave(p, pts, fmt.Sprintf("%d headers with no more work than our tip", len(hdrs)))
		return nil, false, fmt.Errorf("%w (%d headers)", errLowWork, len(hdrs))
	}
	return hdrs, false, nil
}

// Block fetch states.
const (
	fsQueued = iota
	fsInflight
	fsHave
	fsFed
	fsDone
)

// fetchResult reports blocks of a getblocks request: one block as it
// arrives (partial), or the end of the request (final).
type fetchResult struct {
	peer  peer.ID
	idx   []int
	ans   blocksAnswer
	err   error
	final bool
}

type procResult struct {
	idx int
	err error
}

type fetchPeer struct {
	id       peer.ID
	inflight int
	failures int
}

// fetcher downloads the bodies of a checked header chain from several
// peers in parallel and connects them in order.
type fetcher struct {
	s       *syncer
	hdrPeer peer.ID
	hdrs    []pendingHdr
	state   []uint8
	blocks  []*wire.Block
	from    []peer.ID
	reqAt   []time.Time
	reqPeer []peer.ID
	avoid   []peer.ID
	peers   []*fetchPeer
	dropped map[peer.ID]bool
	buffer  int // bytes fetched and not yet connected
	fed     int // next index to hand to the processor
	done    int // blocks connected (or already stored)
	results chan fetchResult
	feed    chan *wire.Block
	procd   chan procResult
}

// fetchPeers returns the peers likely to have the chain: the header peer
// first, then others whose announced work reaches the first header's.
func (s *syncer) fetchPeers(hdrPeer peer.ID, first *big.Int) []*fetchPeer {
	out := []*fetchPeer{{id: hdrPeer}}
	peers := s.n.peerSnapshot()
	sort.Slice(peers, func(i, j int) bool { return peers[i].work.Cmp(peers[j].work) > 0 })
	for _, ps := range peers {
		if len(out) >= maxFetchPeers {
			break
		}
		if ps.id != hdrPeer && ps.speaks && ps.work.Cmp(first) >= 0 {
			out = append(out, &fetchPeer{id: ps.id})
		}
	}
	return out
}

// addPeers adds peers that became eligible (connected or announced more
// work) since the round started.
func (f *fetcher) addPeers() {
	if len(f.peers) >= maxFetchPeers {
		return
	}
	for _, fp := range f.s.fetchPeers(f.hdrPeer, f.hdrs[0].work) {
		if f.peer(fp.id) == nil && !f.dropped[fp.id] && len(f.peers) < maxFetchPeers {
			f.peers = append(f.peers, fp)
		}
	}
}

// fetchBodies fetches and connects the blocks of hdrs. It returns the
// number connected.
func (s *syncer) fetchBodies(ctx context.Context, hdrPeer peer.ID, hdrs []pendingHdr) (int, error) {
	f := &fetcher{
		s: s, hdrPeer: hdrPeer, hdrs: hdrs,
		state: make([]uint8, len(hdrs)), blocks: make([]*wire.Block, len(hdrs)), from: make([]peer.ID, len(hdrs)),
		reqAt: make([]time.Time, len(hdrs)), reqPeer: make([]peer.ID, len(hdrs)), avoid: make([]peer.ID, len(hdrs)),
		peers:   s.fetchPeers(hdrPeer, hdrs[0].work),
		dropped: make(map[peer.ID]bool),
		results: make(chan fetchResult, maxFetchPeers*inflightPerPeer),
		feed:    make(chan *wire.Block, fetchWindow),
		procd:   make(chan procResult, fetchWindow),
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		close(f.feed)
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.process(ctx)
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for f.done < len(hdrs) {
		f.assign(ctx, &wg)
		f.feedReady()
		if len(f.peers) == 0 && f.inflight() == 0 {
			return f.done, errNoPeers
		}
		select {
		case <-ctx.Done():
			return f.done, ctx.Err()
		case r := <-f.results:
			f.onResult(r)
		case r := <-f.procd:
			if err := f.onProcessed(r); err != nil {
				return f.done, err
			}
		case <-tick.C:
			f.addPeers()
			f.checkStall()
		}
	}
	return f.done, nil
}

// process connects fed blocks in order and reports each result.
func (f *fetcher) process(ctx context.Context) {
	idx := f.done
	for b := range f.feed {
		if ctx.Err() != nil {
			continue // drain
		}
		_, err := f.s.n.chain.ProcessBlock(b)
		select {
		case f.procd <- procResult{idx: idx, err: err}:
		case <-ctx.Done():
		}
		idx++
	}
}

func (f *fetcher) inflight() int {
	t := 0
	for _, p := range f.peers {
		t += p.inflight
	}
	return t
}

// assign sends getblocks for queued blocks inside the window to peers with
// spare request slots.
func (f *fetcher) assign(ctx context.Context, wg *sync.WaitGroup) {
	end := min(len(f.hdrs), f.done+fetchWindow)
	for _, fp := range f.peers {
		for fp.inflight < inflightPerPeer && f.buffer < fetchBuffer {
			var idx []int
			for i := f.done; i < end && len(idx) < fetchChunk; i++ {
				if f.state[i] == fsQueued && (f.avoid[i] != fp.id || len(f.peers) == 1) {
					idx = append(idx, i)
				}
			}
			if len(idx) == 0 {
				break
			}
			ids := make([]wire.Hash, len(idx))
			now := time.Now()
			for k, i := range idx {
				ids[k] = f.hdrs[i].id
				f.state[i], f.reqAt[i], f.reqPeer[i] = fsInflight, now, fp.id
			}
			fp.inflight++
			wg.Add(1)
			go func(p peer.ID) {
				defer wg.Done()
				rctx, cancel := context.WithTimeout(ctx, blocksTimeout)
				ans, err := f.s.n.requestBlocks(rctx, p, ids, func(k int, b *wire.Block) {
					select {
					case f.results <- fetchResult{peer: p, idx: []int{idx[k]}, ans: blocksAnswer{blocks: []*wire.Block{b}, notFound: []bool{false}}}:
					case <-ctx.Done():
					}
				})
				cancel()
				select {
				case f.results <- fetchResult{peer: p, idx: idx, ans: ans, err: err, final: true}:
				case <-ctx.Done():
				}
			}(fp.id)
		}
	}
}

func (f *fetcher) peer(id peer.ID) *fetchPeer {
	for _, p := range f.peers {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (f *fetcher) dropPeer(id peer.ID) {
	f.dropped[id] = true
	for i, p := range f.peers {
		if p.id == id {
			f.peers = append(f.peers[:i], f.peers[i+1:]...)
			return
		}
	}
}

// onResult stores fetched blocks and queues again what a peer did not
// deliver.
func (f *fetcher) onResult(r fetchResult) {
	if !r.final {
		f.store(r.idx[0], r.ans.blocks[0], r.peer)
		return
	}
	fp := f.peer(r.peer)
	if fp != nil {
		fp.inflight--
	}
	lacks := false
	for k, i := range r.idx {
		if b := r.ans.blocks[k]; b != nil {
			f.store(i, b, r.peer)
			continue
		}
		if r.ans.notFound[k] {
			lacks = true
		}
		if f.state[i] == fsInflight && f.reqPeer[i] == r.peer {
			f.state[i], f.avoid[i] = fsQueued, r.peer
		}
	}
	if fp == nil {
		return
	}
	switch {
	case r.err != nil:
		fp.failures++
		if errors.Is(r.err, errGarbage) || fp.failures >= peerFailures {
			f.dropPeer(r.peer)
		}
	case lacks:
		// It does not have (all of) this chain: leave it to others.
		if r.peer != f.hdrPeer || len(f.peers) > 1 {
			f.dropPeer(r.peer)
		} else {
			fp.failures++
			if fp.failures >= peerFailures {
				f.dropPeer(r.peer)
			}
		}
	}
}

// store keeps a fetched block unless it is already there.
func (f *fetcher) store(i int, b *wire.Block, from peer.ID) {
	if f.state[i] != fsQueued && f.state[i] != fsInflight {
		return
	}
	f.state[i], f.blocks[i], f.from[i] = fsHave, b, from
	f.buffer += b.SerializeSize()
	f.s.n.stats.syncBlocks.Add(1)
}

// feedReady hands the blocks that are next in order to the processor.
func (f *fetcher) feedReady() {
	for f.fed < len(f.hdrs) && f.state[f.fed] == fsHave {
		f.state[f.fed] = fsFed
		f.feed <- f.blocks[f.fed]
		f.fed++
	}
}

// onProcessed handles the result of connecting one block.
func (f *fetcher) onProcessed(r procResult) error {
	n := f.s.n
	i := r.idx
	b := f.blocks[i]
	f.blocks[i] = nil
	if b != nil {
		f.buffer -= b.SerializeSize()
	}
	f.state[i] = fsDone
	err := r.err
	if err == nil {
		f.done++
		return nil
	}
	// The kind says what the failure means (consensus.Classify).
	_, m, known := consensus.Classify(err)
	switch {
	case !known:
		n.log.Error("could not connect a synced block", "id", f.hdrs[i].id, "err", err)
		return err
	case m.RetryLater:
		return err
	case m.BodyMismatch:
		// The body does not match the header we checked: the peer that
		// served it is at fault. A later round fetches it elsewhere.
		n.misbehave(f.from[i], penaltyBadBody, "block body does not match its header")
		return fmt.Errorf("block %s from %s: %w", f.hdrs[i].id, f.from[i], err)
	case m.PeerFault:
		n.misbehave(f.hdrPeer, penaltyBadHeaders, "header chain leads to an invalid block: "+err.Error())
		return fmt.Errorf("%w: block %s: %v", errBadChain, f.hdrs[i].id, err)
	default:
		// Already stored, or not worth storing now: nobody's fault.
		f.done++
		return nil
	}
}

// checkStall asks another peer for the next block to connect when its
// request is overdue.
func (f *fetcher) checkStall() {
	i := f.done
	if i >= len(f.hdrs) || f.state[i] != fsInflight || time.Since(f.reqAt[i]) < stallTimeout || len(f.peers) < 2 {
		return
	}
	slow := f.reqPeer[i]
	f.s.n.stats.stalls.Add(1)
	if fp := f.peer(slow); fp != nil {
		fp.failures++
		if fp.failures >= peerFailures {
			f.dropPeer(slow)
		}
	}
	// Queue the overdue blocks of that request again, avoiding the slow
	// peer; its answer is still used if it arrives first.
	for j := i; j < len(f.hdrs) && j < i+fetchChunk; j++ {
		if f.state[j] == fsInflight && f.reqPeer[j] == slow {
			f.state[j], f.avoid[j] = fsQueued, slow
		}
	}
}
