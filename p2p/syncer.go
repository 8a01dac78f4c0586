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

	"tally/chain"
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
	// avRescan spaces the searches of one peer's headers for the
	// assumed-valid block.
	avRescan = 10 * time.Minute
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
	// stallTimeout: when the next block to connect has been asked and its
	// peer has delivered nothing for this long (or three times its usual
	// gap between blocks, if longer), ask another peer for it.
	stallTimeout = 4 * time.Second
	// probeTimeout bounds the first getheaders to a peer that has not
	// proved its work yet; probeParallel peers are probed at once.
	probeTimeout  = 3 * time.Second
	probeParallel = 16
	// maxFutureWait: a header chain stopped by a header from the future
	// is tried again when our clock reaches it, at most this much later.
	maxFutureWait = 10 * time.Minute
	// peerFailures: failed or stalled requests before a peer is dropped
	// from a round.
	peerFailures = 3
	// penaltySilent is charged to a peer whose sync request timed out.
	penaltySilent = 5
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

// syncer runs headers-first sync: one round at a time, from the peer
// that proved the most work. See docs/p2p.md.
type syncer struct {
	n      *Node
	wakeCh chan struct{}
	active atomic.Bool
	// target is the height of the header chain being fetched.
	target atomic.Uint64

	mu       sync.Mutex
	orphanAt map[peer.ID]time.Time
	// avScanned: when each peer's header chain was last searched for
	// the assumed-valid block (scanAssumed); avFound once it was found.
	avScanned map[peer.ID]time.Time
	avFound   bool
	failed    map[peer.ID]time.Time // owned by run
	retryAt   time.Time             // a header from the future becomes valid (owned by run)
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
	now := s.n.clock.Now()
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
	s.n.status.ask(p)
}

// farBehind reports whether the node is fetching a header chain well
// above its tip (initial sync).
func (s *syncer) farBehind() bool {
	return s.active.Load() && s.target.Load() > s.n.chain.Tip().Height+behindForTxs
}

func (s *syncer) run(ctx context.Context) {
	t := newTicker(s.n.clock, time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wakeCh:
		case <-t.C:
		}
		for ctx.Err() == nil {
			p, ok := s.pick(ctx)
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
				s.failed[p] = s.n.clock.Now()
			}
		}
	}
}

// candidates returns the peers that claim more work than our tip and
// were not found wanting lately, those that proved the most work first.
func (s *syncer) candidates() []peerState {
	tip := s.n.chain.Tip()
	now := s.n.clock.Now()
	if !s.retryAt.IsZero() && !now.Before(s.retryAt) {
		// A header from the future is valid now: everyone may try again.
		clear(s.failed)
		s.retryAt = time.Time{}
	}
	var out []peerState
	for _, ps := range s.n.peerSnapshot() {
		if ps.speaks && ps.work.Cmp(tip.Work) > 0 && now.Sub(s.failed[ps.id]) >= retryAfter {
			out = append(out, ps)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].proved.Cmp(out[j].proved); c != 0 {
			return c > 0
		}
		return out[i].work.Cmp(out[j].work) > 0
	})
	return out
}

// probeGrace: after the first probe answer, the other probed peers get
// this long to answer too (and so prove their work for the body fetch).
const probeGrace = 500 * time.Millisecond

// pick returns the sync peer: the one that proved the most work above
// our tip; when none has, the candidates are probed (one getheaders each,
// probeParallel at a time, probeTimeout each) and the first whose headers
// check and lead past our tip is taken. A probed peer that stays silent
// counts as failed and is charged penaltySilent, so identities that
// claim huge work and never answer cost a fresh node one probe timeout,
// not one each.
func (s *syncer) pick(ctx context.Context) (peer.ID, bool) {
	cands := s.candidates()
	if len(cands) == 0 {
		return "", false
	}
	tipWork := s.n.chain.Tip().Work
	if cands[0].proved.Cmp(tipWork) > 0 {
		return cands[0].id, true
	}
	if len(cands) > probeParallel {
		cands = cands[:probeParallel]
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		p   peer.ID
		hs  []wire.Header
		err error
	}
	answers := make(chan answer, len(cands))
	rank := make(map[peer.ID]int, len(cands))
	for i, c := range cands {
		rank[c.id] = i
	}
	loc := s.n.chain.Locator()
	for _, c := range cands {
		go func(p peer.ID) {
			hs, err := s.n.requestHeaders(pctx, p, loc, probeTimeout)
			answers <- answer{p, hs, err}
		}(c.id)
	}
	var best, fallback peer.ID
	var bestWork *big.Int
	var grace <-chan struct{}
	for left := len(cands); left > 0; {
		var a answer
		select {
		case a = <-answers:
			left--
		case <-grace:
			cancel() // the rest had their chance
			grace = nil
			continue
		}
		switch {
		case a.err == nil && len(a.hs) > 0:
			if w, ok := s.probeWork(a.p, a.hs); ok && w.Cmp(tipWork) > 0 {
				s.n.noteProved(a.p, w)
				// More proved work wins; on a tie, the peer claiming more
				// (it likely has further headers).
				if best == "" {
					best, bestWork = a.p, w
				} else if c := w.Cmp(bestWork); c > 0 || (c == 0 && rank[a.p] < rank[best]) {
					best, bestWork = a.p, w
				}
				if grace == nil && pctx.Err() == nil {
					g := make(chan struct{})
					stop := s.n.clock.AfterFunc(probeGrace, func() { close(g) })
					defer stop()
					grace = g
				}
				continue
			}
			// Headers that do not (yet) lead past our tip: the round
			// judges them (a long chain, or low work announced as more).
			if fallback == "" {
				fallback = a.p
			}
		case a.err != nil && pctx.Err() != nil:
			// Cut short after another peer answered: no fault, but it is
			// left out of this round's body fetch.
			s.failed[a.p] = s.n.clock.Now()
		case a.err != nil && !errors.Is(a.err, errGarbage):
			s.failed[a.p] = s.n.clock.Now()
			s.n.stats.timeouts.Add(1)
			s.n.misbehave(a.p, penaltySilent, "no answer to getheaders in time")
		default:
			s.failed[a.p] = s.n.clock.Now()
		}
	}
	if best == "" {
		best = fallback
	}
	return best, best != ""
}

// probeWork checks a probe's headers against our index and returns the
// work they lead to (false if they do not check; the peer is charged by
// attachHeaders as in a round).
func (s *syncer) probeWork(p peer.ID, hs []wire.Header) (*big.Int, bool) {
	var cur hdrCtx
	have := false
	var res headersResult
	if _, _, err := s.attachHeaders(p, hs, &cur, &have, &res); err != nil || !have {
		return nil, false
	}
	return cur.work, true
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
	s.scanAssumed(ctx, p)
	for ctx.Err() == nil {
		s.n.stats.syncRounds.Add(1)
		hr, err := s.fetchHeaders(ctx, p, s.announced(p))
		if err != nil {
			return progress, err
		}
		if hr.future {
			s.retryLater(hr.futureTime)
		}
		if len(hr.hdrs) == 0 {
			if !progress && !hr.future {
				// It announced more work and gave nothing. A chain that
				// stops at a header from the future is not its fault:
				// clocks differ.
				s.n.misbehave(p, penaltyLowWorkShort, "announced more work, sent no headers")
			}
			return progress, nil
		}
		s.target.Store(hr.hdrs[len(hr.hdrs)-1].height)
		done, err := s.fetchBodies(ctx, hr.peer, hr.hdrs)
		progress = progress || done > 0
		if done > 0 && !hr.more {
			s.announceTip()
		}
		if err != nil {
			return progress, err
		}
		if !hr.more {
			return progress, nil
		}
		p = hr.peer
	}
	return progress, ctx.Err()
}

// scanAssumed searches p's header chain for the --assumevalid block
// before a round, so that the bodies below it skip their signature
// checks. Bitcoin Core has every header before it fetches a body; our
// rounds fetch maxRoundHeaders headers at a time, so without this look
// ahead the assumed block would only come into view in the last round.
// The headers are checked as in a round (a broken one costs p points);
// only their ids are kept. Each peer is searched at most once per
// avRescan, and none once the block is found or stored.
func (s *syncer) scanAssumed(ctx context.Context, p peer.ID) {
	n := s.n
	av := n.chain.AssumeValidID()
	if av.IsZero() || s.avFound || n.chain.HasBlock(av) {
		return
	}
	now := n.clock.Now()
	if last, ok := s.avScanned[p]; ok && now.Sub(last) < avRescan {
		return
	}
	if s.avScanned == nil || len(s.avScanned) >= 1024 {
		s.avScanned = make(map[peer.ID]time.Time)
	}
	s.avScanned[p] = now
	base := n.chain.Locator()
	var (
		cur     hdrCtx
		haveCur bool
		res     headersResult
		ids     []wire.Hash
		start   uint64
	)
	for iter := 0; iter <= maxHeaderChain/MaxHeadersPerMsg && ctx.Err() == nil; iter++ {
		loc := s.locatorAfter(base, cur, haveCur)
		resp, err := n.requestHeaders(ctx, p, loc, headersTimeout)
		if err != nil || len(resp) == 0 {
			return
		}
		_, stop, err := s.attachHeaders(p, resp, &cur, &haveCur, &res)
		if err != nil {
			return
		}
		for _, h := range res.hdrs {
			// A header that does not follow the last kept one starts
			// the chain afresh (the answer attached to a stored block).
			if len(ids) > 0 && h.header.PrevBlock != ids[len(ids)-1] {
				ids = ids[:0]
			}
			if len(ids) == 0 {
				start = h.height
			}
			ids = append(ids, h.id)
			if h.id == av {
				if n.chain.AssumeHeaderChain(start, ids, h.work) {
					s.avFound = true
					n.log.Info("assumevalid: header chain to the assumed block found; its ancestors' signatures are not checked",
						"block", av, "height", h.height, "peer", p)
				}
				return
			}
		}
		res.hdrs = res.hdrs[:0]
		if stop || len(resp) < MaxHeadersPerMsg {
			return
		}
	}
}

// announceTip publishes our tip after a round that reached it: peers
// that never saw it (the other side of a healed partition) learn of the
// heavier chain from gossip instead of waiting for their next status
// exchange. Peers that saw it drop it as a duplicate.
func (s *syncer) announceTip() {
	tip := s.n.chain.Tip()
	b, err := s.n.chain.Block(tip.ID)
	if err != nil {
		return
	}
	s.n.RelayBlock(b)
}

// retryLater schedules another round for when a header stamped t is no
// longer too far in the future for our clock.
func (s *syncer) retryLater(t uint64) {
	at := time.Unix(int64(t)-int64(s.n.p.MaxFutureSeconds)+1, 0)
	now := s.n.clock.Now()
	if at.Sub(now) > maxFutureWait {
		at = now.Add(maxFutureWait)
	}
	if s.retryAt.IsZero() || at.Before(s.retryAt) {
		s.retryAt = at
	}
}

// locatorAfter is our locator base with the last checked header in
// front (when there is one), cut to MaxLocatorIDs ending at genesis.
func (s *syncer) locatorAfter(base []wire.Hash, cur hdrCtx, haveCur bool) []wire.Hash {
	loc := base
	if haveCur {
		loc = append([]wire.Hash{cur.id}, base...)
	}
	if len(loc) > MaxLocatorIDs {
		loc = append(loc[:MaxLocatorIDs-1], s.n.p.GenesisID)
	}
	return loc
}

// headersResult is what fetchHeaders gathered.
type headersResult struct {
	hdrs []pendingHdr
	// peer is the peer that sent the last headers (another than the one
	// the round began with, if that one went away).
	peer peer.ID
	// more: the peer has further headers.
	more bool
	// future: the chain went on with a header too far in the future for
	// our clock (stamped futureTime); it is tried again later.
	future     bool
	futureTime uint64
}

// fetchHeaders gathers and checks a header chain from p that leads to
// more work than our tip. When p stops answering part way, another peer
// that claims the work is asked to continue from the last checked header.
func (s *syncer) fetchHeaders(ctx context.Context, p peer.ID, announced *big.Int) (headersResult, error) {
	n := s.n
	base := n.chain.Locator()
	var cur hdrCtx
	haveCur := false
	tipWork := n.chain.Tip().Work
	res := headersResult{peer: p}
	tried := map[peer.ID]bool{p: true}
	for iter := 0; iter < 2*maxHeaderChain/MaxHeadersPerMsg; iter++ {
		loc := s.locatorAfter(base, cur, haveCur)
		resp, err := n.requestHeaders(ctx, res.peer, loc, headersTimeout)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, errGarbage) {
				return res, err
			}
			n.stats.timeouts.Add(1)
			n.misbehave(res.peer, penaltySilent, "getheaders failed: "+err.Error())
			s.failed[res.peer] = n.clock.Now()
			alt, ok := s.alternate(tried, cur.work)
			if !ok {
				return res, err
			}
			n.log.Debug("header peer lost; continuing with another", "lost", res.peer, "peer", alt, "err", err)
			res.peer, tried[alt] = alt, true
			continue
		}
		n.stats.syncHeaders.Add(uint64(len(resp)))
		if len(resp) == 0 {
			break
		}
		added, stop, err := s.attachHeaders(res.peer, resp, &cur, &haveCur, &res)
		if err != nil {
			return res, err
		}
		_ = added
		above := len(res.hdrs) > 0 && cur.work.Cmp(tipWork) > 0
		if above {
			n.noteProved(res.peer, cur.work)
		}
		if stop || len(resp) < MaxHeadersPerMsg {
			break
		}
		if above && len(res.hdrs) >= maxRoundHeaders {
			res.more = true
			return res, nil
		}
		if len(res.hdrs) >= maxHeaderChain {
			break
		}
	}
	if len(res.hdrs) > 0 && cur.work.Cmp(tipWork) <= 0 {
		hdrs := res.hdrs
		res.hdrs = nil
		if res.future {
			// Not enough work yet because the rest is from the future
			// for our clock: nobody's fault; try again later.
			return res, nil
		}
		pts := float64(penaltyLowWork)
		if len(hdrs) <= shortChain {
			pts = penaltyLowWorkShort
		}
		if announced != nil && cur.work.Cmp(announced) < 0 {
			// Its chain only grows in work: it announced work it
			// does not have.
			pts += penaltyLowWork
		}
		n.misbehave(res.peer, pts, fmt.Sprintf("%d headers with no more work than our tip", len(hdrs)))
		return res, fmt.Errorf("%w (%d headers)", errLowWork, len(hdrs))
	}
	return res, nil
}

// alternate returns a connected peer, not tried yet in this round, that
// claims at least work.
func (s *syncer) alternate(tried map[peer.ID]bool, work *big.Int) (peer.ID, bool) {
	for _, ps := range s.candidates() {
		if !tried[ps.id] && (work == nil || ps.work.Cmp(work) >= 0) {
			return ps.id, true
		}
	}
	return "", false
}

// attachHeaders checks one headers answer from p and appends it to the
// chain being built (cur, res.hdrs). stop reports that the chain cannot
// go on now (a header from the future for our clock). Broken headers
// cost p points and end the round with an error.
func (s *syncer) attachHeaders(p peer.ID, resp []wire.Header, cur *hdrCtx, haveCur *bool, res *headersResult) (added int, stop bool, err error) {
	n := s.n
	// Where does the answer attach? To our last checked header, or (the
	// peer answered from an earlier locator entry) to a stored block,
	// which starts the chain afresh.
	i := 0
	if !*haveCur || resp[0].PrevBlock != cur.id {
		c, ok := s.ctxFromIndex(resp[0].PrevBlock)
		if !ok {
			n.misbehave(p, penaltyGarbage, "headers that attach to nothing we know")
			return 0, false, fmt.Errorf("%w: headers do not attach", errBadChain)
		}
		if info, _ := n.chain.BlockInfo(resp[0].PrevBlock); info.Invalid {
			n.misbehave(p, penaltyBadHeaders, "headers on a block known invalid")
			return 0, false, fmt.Errorf("%w: parent %s is known invalid", errBadChain, resp[0].PrevBlock)
		}
		*cur, *haveCur, res.hdrs = c, true, nil
		// Skip headers we already store.
		for i < len(resp) {
			id := resp[i].BlockID()
			info, ok := n.chain.BlockInfo(id)
			if !ok {
				break
			}
			if info.Invalid {
				n.misbehave(p, penaltyBadHeaders, "headers of a block known invalid")
				return 0, false, fmt.Errorf("%w: block %s is known invalid", errBadChain, id)
			}
			if resp[i].PrevBlock != cur.id {
				n.misbehave(p, penaltyBadHeaders, "headers not linked")
				return 0, false, fmt.Errorf("%w: headers not linked", errBadChain)
			}
			if *cur, ok = s.ctxFromIndex(id); !ok {
				return 0, false, fmt.Errorf("block %s left the index", id)
			}
			i++
		}
	}
	now := n.clock.Now().Unix()
	for ; i < len(resp); i++ {
		h := &resp[i]
		id := h.BlockID()
		if h.PrevBlock != cur.id {
			n.misbehave(p, penaltyBadHeaders, "headers not linked")
			return added, false, fmt.Errorf("%w: header %s does not follow %s", errBadChain, id, cur.id)
		}
		if err := consensus.CheckHeaderSanity(h, id, n.p); err != nil {
			n.misbehave(p, penaltyBadHeaders, "bad header: "+err.Error())
			return added, false, fmt.Errorf("%w: %v", errBadChain, err)
		}
		if err := consensus.CheckHeaderContext(h, cur.parent(), n.p, now); err != nil {
			if _, m, _ := consensus.Classify(err); m.RetryLater {
				// Not invalid (a header from the future for our
				// clock): stop here and try again when it is due.
				res.future, res.futureTime = true, h.Time
				return added, true, nil
			}
			n.misbehave(p, penaltyBadHeaders, "bad header: "+err.Error())
			return added, false, fmt.Errorf("%w: %v", errBadChain, err)
		}
		*cur = cur.child(h, id)
		res.hdrs = append(res.hdrs, pendingHdr{id: id, header: *h, height: cur.height, work: cur.work})
		added++
	}
	return added, false, nil
}

// slotState is where one block of a round's header chain is in the
// fetch.
type slotState uint8

// Slot states, in the order a block goes through them.
const (
	slotQueued   slotState = iota // to be asked
	slotInflight                  // asked of reqPeer at reqAt
	slotHave                      // body received, waiting for its turn
	slotFed                       // handed to the processor
	slotDone                      // connected (or already stored)
)

// slot is the fetch state of one block of the round.
type slot struct {
	state   slotState
	block   *wire.Block // slotHave and slotFed
	from    peer.ID     // who delivered block
	reqPeer peer.ID     // slotInflight: who was asked
	reqAt   time.Time   // slotInflight: when
	avoid   peer.ID     // a peer that failed to deliver it
}

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

// fetchPeer is a peer asked for bodies in this round.
type fetchPeer struct {
	id       peer.ID
	inflight int
	failures int
	// lastRecv: the last time it delivered a block (or was asked, while
	// it had nothing outstanding); gap: smoothed time between its
	// blocks. Stalls are judged from them, not from the request time, so
	// a slow link that keeps delivering is not flagged.
	lastRecv time.Time
	gap      time.Duration
}

// stallAfter is how long p may deliver nothing before its next block is
// asked elsewhere: stallTimeout, or three times its usual gap if longer.
func (p *fetchPeer) stallAfter() time.Duration { return max(stallTimeout, 3*p.gap) }

// fetcher downloads the bodies of a checked header chain from several
// peers in parallel and connects them in order.
type fetcher struct {
	s       *syncer
	hdrPeer peer.ID
	hdrs    []pendingHdr
	slots   []slot
	peers   []*fetchPeer
	dropped map[peer.ID]bool
	buffer  int // bytes fetched and not yet connected
	fed     int // next index to hand to the processor
	done    int // blocks connected (or already stored)
	results chan fetchResult
	feed    chan fedBlock
	procd   chan procResult
}

// fedBlock is a block handed to the processor with the peer that sent it.
type fedBlock struct {
	b    *wire.Block
	from peer.ID
}

// fetchPeers returns the peers likely to have the chain: the header peer
// first, then others that claim work reaching the first header's and
// did not fail us lately (a liar that stayed silent to its probe is left
// out; one that answers headers and then withholds bodies is caught by
// stall detection). Peers that proved more work come first.
func (s *syncer) fetchPeers(hdrPeer peer.ID, first *big.Int) []*fetchPeer {
	out := []*fetchPeer{{id: hdrPeer}}
	peers := s.n.peerSnapshot()
	sort.Slice(peers, func(i, j int) bool { return peers[i].proved.Cmp(peers[j].proved) > 0 })
	now := s.n.clock.Now()
	for _, ps := range peers {
		if len(out) >= maxFetchPeers {
			break
		}
		if ps.id != hdrPeer && ps.speaks && ps.work.Cmp(first) >= 0 && now.Sub(s.failed[ps.id]) >= retryAfter {
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
		slots:   make([]slot, len(hdrs)),
		peers:   s.fetchPeers(hdrPeer, hdrs[0].work),
		dropped: make(map[peer.ID]bool),
		results: make(chan fetchResult, maxFetchPeers*inflightPerPeer),
		feed:    make(chan fedBlock, fetchWindow),
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
	tick := newTicker(s.n.clock, 500*time.Millisecond)
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
	for fb := range f.feed {
		if ctx.Err() != nil {
			continue // drain
		}
		_, err := f.s.n.chain.ProcessBlockRaw(fb.b, nil, chain.Source{Origin: chain.OriginRequested, Peer: fb.from.String()})
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
				if sl := &f.slots[i]; sl.state == slotQueued && (sl.avoid != fp.id || len(f.peers) == 1) {
					idx = append(idx, i)
				}
			}
			if len(idx) == 0 {
				break
			}
			ids := make([]wire.Hash, len(idx))
			now := f.s.n.clock.Now()
			for k, i := range idx {
				ids[k] = f.hdrs[i].id
				f.slots[i].state, f.slots[i].reqAt, f.slots[i].reqPeer = slotInflight, now, fp.id
			}
			if fp.inflight == 0 {
				fp.lastRecv = now // its silence counts from now
			}
			fp.inflight++
			wg.Add(1)
			go func(p peer.ID) {
				defer wg.Done()
				rctx, cancel := withTimeout(ctx, f.s.n.clock, blocksTimeout)
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
		if sl := &f.slots[i]; sl.state == slotInflight && sl.reqPeer == r.peer {
			sl.state, sl.avoid = slotQueued, r.peer
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

// store keeps a fetched block unless it is already there, and notes the
// delivering peer's progress.
func (f *fetcher) store(i int, b *wire.Block, from peer.ID) {
	if fp := f.peer(from); fp != nil {
		now := f.s.n.clock.Now()
		if !fp.lastRecv.IsZero() {
			d := now.Sub(fp.lastRecv)
			if fp.gap == 0 {
				fp.gap = d
			} else {
				fp.gap = (3*fp.gap + d) / 4
			}
		}
		fp.lastRecv = now
	}
	sl := &f.slots[i]
	if sl.state != slotQueued && sl.state != slotInflight {
		return
	}
	sl.state, sl.block, sl.from = slotHave, b, from
	f.buffer += b.SerializeSize()
	f.s.n.stats.syncBlocks.Add(1)
}

// feedReady hands the blocks that are next in order to the processor.
func (f *fetcher) feedReady() {
	for f.fed < len(f.hdrs) && f.slots[f.fed].state == slotHave {
		f.slots[f.fed].state = slotFed
		f.feed <- fedBlock{f.slots[f.fed].block, f.slots[f.fed].from}
		f.fed++
	}
}

// onProcessed handles the result of connecting one block.
func (f *fetcher) onProcessed(r procResult) error {
	n := f.s.n
	i := r.idx
	sl := &f.slots[i]
	if sl.block != nil {
		f.buffer -= sl.block.SerializeSize()
		sl.block = nil
	}
	sl.state = slotDone
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
		n.misbehave(sl.from, penaltyBadBody, "block body does not match its header")
		return fmt.Errorf("block %s from %s: %w", f.hdrs[i].id, sl.from, err)
	case m.PeerFault:
		n.misbehave(f.hdrPeer, penaltyBadHeaders, "header chain leads to an invalid block: "+err.Error())
		return fmt.Errorf("%w: block %s: %v", errBadChain, f.hdrs[i].id, err)
	default:
		// Already stored, or not worth storing now: nobody's fault.
		f.done++
		return nil
	}
}

// checkStall asks another peer for the next block to connect when the
// peer it was asked of has delivered nothing for longer than its stall
// time (measured from its last progress, not from the request).
func (f *fetcher) checkStall() {
	i := f.done
	if i >= len(f.hdrs) || f.slots[i].state != slotInflight || len(f.peers) < 2 {
		return
	}
	slow := f.slots[i].reqPeer
	fp := f.peer(slow)
	now := f.s.n.clock.Now()
	since := f.slots[i].reqAt
	var after time.Duration = stallTimeout
	if fp != nil {
		since, after = maxTime(since, fp.lastRecv), fp.stallAfter()
	}
	if now.Sub(since) < after {
		return
	}
	f.s.n.stats.stalls.Add(1)
	if fp != nil {
		fp.failures++
		fp.lastRecv = now // judge it afresh from here
		if fp.failures >= peerFailures {
			f.dropPeer(slow)
		}
	}
	// Queue the overdue blocks of that request again, avoiding the slow
	// peer; its answer is still used if it arrives first.
	for j := i; j < len(f.hdrs) && j < i+fetchChunk; j++ {
		if sl := &f.slots[j]; sl.state == slotInflight && sl.reqPeer == slow {
			sl.state, sl.avoid = slotQueued, slow
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
