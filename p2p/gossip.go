package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/chain"
	"tally/consensus"
	"tally/wire"
)

// Gossip sizing.
const (
	// gossipOverhead is what the pubsub RPC framing adds to one message
	// (topic, protobuf tags, control data riding along).
	gossipOverhead = 64 << 10
	// queueSize is pubsub's per-peer outbound queue, validation queue and
	// subscription buffer: with the default of 32 a burst of transactions
	// is mostly dropped (STYLE, stack notes).
	queueSize = 4096
)

// Per-peer flood limits on gossip messages, checked before validation
// (token buckets; docs/p2p.md "Flood control").
const (
	floodMsgBurst  = 20000
	floodMsgRate   = 5000     // messages per second
	floodByteBurst = 64 << 20 // bytes
	floodByteRate  = 16 << 20 // bytes per second
)

// Topics returns the gossipsub topic names of a network.
func Topics(networkID [4]byte) (blocks, txs string) {
	return fmt.Sprintf("/tally/%x/blocks/1", networkID[:]), fmt.Sprintf("/tally/%x/txs/1", networkID[:])
}

// MessageID is the gossipsub message id: SHA-256 of the data.
func MessageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

// Gossipsub v1.1 score thresholds (docs/p2p.md, "Peer scoring").
const (
	gossipThreshold   = -50
	publishThreshold  = -100
	graylistThreshold = -200
	acceptPXThreshold = 5
	oppGraftThreshold = 2
	appSpecificWeight = 2 // times our misbehaviour points, negated
)

// ScoreThresholds returns the gossipsub score thresholds.
func ScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             gossipThreshold,
		PublishThreshold:            publishThreshold,
		GraylistThreshold:           graylistThreshold,
		AcceptPXThreshold:           acceptPXThreshold,
		OpportunisticGraftThreshold: oppGraftThreshold,
	}
}

// topicScore returns one topic's score parameters. Mesh delivery
// penalties (P3, P3b) are off: blocks come every few minutes and
// transactions in bursts, so a quiet mesh peer is not a bad one.
func topicScore(weight, firstCap, invalidWeight float64) *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    weight,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  600,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(time.Hour),
		FirstMessageDeliveriesCap:      firstCap,
		InvalidMessageDeliveriesWeight: invalidWeight,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
	}
}

// ScoreParams returns the gossipsub v1.1 peer score parameters for the two
// topics. app is the application-specific score (minus our misbehaviour
// points).
func ScoreParams(blocksTopic, txsTopic string, app func(peer.ID) float64) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{
			// One invalid block: -100 (below publish); two: -400 (graylist).
			blocksTopic: topicScore(1, 20, -100),
			// One invalid tx: -50 (gossip threshold); two: -200 (graylist).
			txsTopic: topicScore(0.5, 100, -100),
		},
		TopicScoreCap:               40,
		AppSpecificScore:            app,
		AppSpecificWeight:           appSpecificWeight,
		IPColocationFactorWeight:    -5,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: loopbackNets,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 time.Hour,
	}
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(n, burst, rate float64, now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+rate*now.Sub(b.last).Seconds())
	}
	b.last = now
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

type floodState struct {
	msgs, bytes bucket
}

// floodGuard limits gossip messages per peer.
type floodGuard struct {
	mu    sync.Mutex
	peers map[peer.ID]*floodState
}

func (f *floodGuard) allow(p peer.ID, msgs, bytes int, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.peers == nil {
		f.peers = make(map[peer.ID]*floodState)
	}
	s := f.peers[p]
	if s == nil {
		s = &floodState{}
		f.peers[p] = s
	}
	okM := s.msgs.take(float64(msgs), floodMsgBurst, floodMsgRate, now)
	okB := s.bytes.take(float64(bytes), floodByteBurst, floodByteRate, now)
	return okM && okB
}

func (f *floodGuard) forget(p peer.ID) {
	f.mu.Lock()
	delete(f.peers, p)
	f.mu.Unlock()
}

// startGossip creates the gossipsub router, joins both topics, registers
// their validators and starts draining the subscriptions.
func (n *Node) startGossip(ctx context.Context) error {
	maxMsg := n.p.MaxBlockBytes + gossipOverhead
	nid := fmt.Sprintf("%x", n.p.NetworkID[:])
	filter := pubsub.WrapLimitSubscriptionFilter(
		pubsub.NewRegexpSubscriptionFilter(regexp.MustCompile("^/tally/"+nid+"/")), 16)
	ps, err := pubsub.NewGossipSub(ctx, n.host,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(MessageID),
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(maxMsg),
		pubsub.WithPeerOutboundQueueSize(queueSize),
		pubsub.WithValidateQueueSize(queueSize),
		pubsub.WithSeenMessagesTTL(n.cfg.SeenTTL),
		pubsub.WithPeerExchange(true),
		pubsub.WithPeerScore(ScoreParams(n.blocksTopic, n.txsTopic, n.appScore), ScoreThresholds()),
		pubsub.WithPeerScoreInspect(n.inspectScores, time.Second),
		pubsub.WithBlacklist(pubsubBlacklist{n.bans}),
		pubsub.WithAppSpecificRpcInspector(n.inspectRPC),
		pubsub.WithSubscriptionFilter(filter),
	)
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	// The validators wait for a fair share of the validation slots
	// (fairness): pubsub's own per-topic throttle is only a backstop, set
	// above the queue size so that it never drops silently before ours.
	if err := ps.RegisterTopicValidator(n.blocksTopic, n.validateBlock, pubsub.WithValidatorConcurrency(2*queueSize)); err != nil {
		return err
	}
	if err := ps.RegisterTopicValidator(n.txsTopic, n.validateTx, pubsub.WithValidatorConcurrency(2*queueSize)); err != nil {
		return err
	}
	blocks, err := ps.Join(n.blocksTopic)
	if err != nil {
		return err
	}
	txs, err := ps.Join(n.txsTopic)
	if err != nil {
		return err
	}
	if err := n.startCompact(ps); err != nil {
		return err
	}
	n.life.Lock()
	n.ps, n.blocks, n.txs = ps, blocks, txs
	n.life.Unlock()
	for _, t := range []*pubsub.Topic{blocks, txs, n.cmpct.topic} {
		sub, err := t.Subscribe(pubsub.WithBufferSize(queueSize))
		if err != nil {
			return err
		}
		// The validators already processed every delivered message;
		// the subscription keeps us in the mesh and is only drained.
		n.goFunc(func() {
			defer sub.Cancel()
			for {
				if _, err := sub.Next(ctx); err != nil {
					return
				}
			}
		})
	}
	return nil
}

// appScore is gossipsub's application-specific score: our misbehaviour
// points, negated (weighted by appSpecificWeight).
func (n *Node) appScore(p peer.ID) float64 { return -n.bans.score(p) }

// inspectScores receives gossipsub's peer scores every second: it keeps
// them for Peers() and bans a peer whose score fell below the graylist
// threshold (invalid messages, broken gossip behaviour).
func (n *Node) inspectScores(scores map[peer.ID]float64) {
	cp := make(map[peer.ID]float64, len(scores))
	for p, s := range scores {
		cp[p] = s
		if s < graylistThreshold {
			n.misbehave(p, BanThreshold, fmt.Sprintf("gossipsub score %.0f below the graylist threshold %d", s, graylistThreshold))
		}
	}
	n.scores.Store(&cp)
}

// inspectRPC runs on every incoming pubsub RPC before anything else looks
// at it: it drops the RPC and penalizes the sender when a message exceeds
// its topic's consensus size limit or the sender floods.
func (n *Node) inspectRPC(from peer.ID, rpc *pubsub.RPC) error {
	msgs := rpc.GetPublish()
	if len(msgs) == 0 {
		return nil
	}
	total := 0
	for _, m := range msgs {
		size := len(m.GetData())
		total += size
		limit, kind := 0, consensus.ErrBlockTooBig
		switch m.GetTopic() {
		case n.blocksTopic, n.cmpct.topicName:
			limit = n.p.MaxBlockBytes
		case n.txsTopic:
			limit, kind = n.p.MaxTxBytes, consensus.ErrTxTooBig
		default:
			continue
		}
		if size > limit {
			n.stats.oversize.Add(1)
			n.misbehave(from, penaltyOversize, fmt.Sprintf("%d-byte message on %s, limit %d", size, m.GetTopic(), limit))
			return oversize(kind, size, limit)
		}
	}
	if !n.flood.allow(from, len(msgs), total, n.clock.Now()) {
		n.stats.flood.Add(1)
		n.misbehave(from, penaltyFlood, "gossip flood")
		return fmt.Errorf("peer %s floods", from)
	}
	return nil
}

// admit decides whether a message from p gets validated at all: never
// for a banned peer (its queued messages cost nothing), and only once it
// has a fair validation slot. release must be called when it is true.
func (n *Node) admit(ctx context.Context, from peer.ID, local bool, class int) (release func(), ok bool) {
	if local {
		return func() {}, true
	}
	if n.bans.banned(from) {
		n.stats.bannedDropped.Add(1)
		return nil, false
	}
	if !n.fair.acquire(ctx, from, class) {
		return nil, false
	}
	if n.bans.banned(from) { // banned while it waited
		n.fair.release()
		n.stats.bannedDropped.Add(1)
		return nil, false
	}
	return n.fair.release, true
}

// validateBlock is the blocks topic validator: size bound, decode, header
// sanity (proof of work) first, then every rule through ProcessBlock. It
// accepts (forwards) only a block now on our best chain.
func (n *Node) validateBlock(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	local := from == n.self
	release, ok := n.admit(ctx, from, local, classBlock)
	if !ok {
		n.stats.blocks.ignored.Add(1)
		return pubsub.ValidationIgnore
	}
	b, res, err := n.checkBlock(msg.Data, from, local)
	release()
	v := judge(err)
	if err == nil && res != chain.MainChain {
		// Stored on a side branch after header checks only: not
		// validated, so not forwarded (a peer one block behind would
		// validate it and blame us), unless it joins the best chain.
		v = verdict{Result: pubsub.ValidationIgnore, Reason: "side-branch"}
	}
	if b != nil && v.Result == pubsub.ValidationIgnore && !local {
		_, m, _ := consensus.Classify(err)
		switch {
		case err == nil || v.Orphan:
			if v.Orphan {
				n.sync.orphanFrom(from)
			}
			// Hold the message: if the block joins the best chain
			// meanwhile (its parent arrived, its branch became the
			// heaviest), it is accepted and forwarded as it came.
			onMain := func() bool { info, ok := n.chain.BlockInfo(b.BlockID()); return ok && info.OnMain }
			if n.relay.hold(ctx, b.BlockID(), from, maxHeldPerPeerBlock, holdBlock, onMain) {
				if onMain() {
					v, err = verdict{Result: pubsub.ValidationAccept, Reason: "accepted later"}, nil
					break
				}
			}
			n.relay.laterBlock(b.BlockID())
		case m.RetryLater && !v.OurFault:
			n.relay.keepFuture(b, msg.Data, from)
		}
	}
	n.account(&n.stats.blocks, "block", from, local, v, err)
	if v.Result == pubsub.ValidationAccept && !local && b != nil {
		n.notePeerBlock(from, b.BlockID())
	}
	return v.Result
}

// checkBlock decodes and processes a gossiped block.
func (n *Node) checkBlock(data []byte, from peer.ID, local bool) (*wire.Block, chain.Result, error) {
	if len(data) > n.p.MaxBlockBytes {
		return nil, 0, oversize(consensus.ErrBlockTooBig, len(data), n.p.MaxBlockBytes)
	}
	b, err := wire.DecodeBlock(data)
	if err != nil {
		return nil, 0, malformed(err)
	}
	id := b.Header.BlockID()
	if err := consensus.CheckHeaderSanity(&b.Header, id, n.p); err != nil {
		return b, 0, err
	}
	if local {
		// The node processed its own block before publishing it.
		if info, ok := n.chain.BlockInfo(id); ok && !info.Invalid {
			if info.OnMain {
				return b, chain.MainChain, nil
			}
			return b, chain.SideChain, nil
		}
	}
	res, err := n.chain.ProcessBlockRaw(b, data, chain.Source{Origin: chain.OriginGossip, Peer: from.String()})
	return b, res, err
}

// validateTx is the transactions topic validator: size bound, decode,
// mempool acceptance. A transaction the pool keeps as an orphan is
// relayed once its parent arrives.
func (n *Node) validateTx(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	local := from == n.self
	release, ok := n.admit(ctx, from, local, classTx)
	if !ok {
		n.stats.txs.ignored.Add(1)
		return pubsub.ValidationIgnore
	}
	tx, err := n.checkTx(msg.Data, from, local)
	release()
	v := judge(err)
	if tx != nil && !local && isOrphanTx(err) {
		// Kept as an orphan: hold the message until its parent arrives
		// (the pool then accepts it), so it is forwarded as it came.
		n.relay.orphanTx(tx, tx.TxID())
		inPool := func() bool { return n.pool.Has(tx.TxID()) }
		if n.relay.hold(ctx, tx.TxID(), from, maxHeldPerPeerTx, holdTx, inPool) && inPool() {
			v, err = verdict{Result: pubsub.ValidationAccept, Reason: "accepted later"}, nil
		}
	}
	n.account(&n.stats.txs, "tx", from, local, v, err)
	if tx != nil && v.Result == pubsub.ValidationAccept {
		id := tx.TxID()
		n.cmpct.gossiped.add(id)
		n.goFunc(func() { n.relay.txAccepted(id) })
	}
	return v.Result
}

func (n *Node) checkTx(data []byte, from peer.ID, local bool) (*wire.Tx, error) {
	if len(data) > n.p.MaxTxBytes {
		return nil, oversize(consensus.ErrTxTooBig, len(data), n.p.MaxTxBytes)
	}
	tx, err := wire.DecodeTx(data)
	if err != nil {
		return nil, malformed(err)
	}
	if local && n.pool.Has(tx.TxID()) {
		return tx, nil
	}
	if !local && n.sync.farBehind() {
		return tx, consensus.ErrNotSynced
	}
	_, err = n.pool.Accept(tx, from.String())
	return tx, err
}

// account counts a verdict, penalizes the sender of rejected data and logs
// our own failures.
func (n *Node) account(c *kindCounters, kind string, from peer.ID, local bool, v verdict, err error) {
	switch v.Result {
	case pubsub.ValidationAccept:
		c.accepted.Add(1)
	case pubsub.ValidationReject:
		c.rejected.Add(1)
		if !local {
			n.log.Debug("rejected gossip", "kind", kind, "peer", from, "reason", v.Reason, "err", err)
			n.misbehave(from, penaltyInvalidGossip, "invalid "+kind+": "+v.Reason)
		}
	default:
		c.ignored.Add(1)
		if v.OurFault {
			n.log.Error("could not check gossiped "+kind, "peer", from, "err", err)
		}
	}
}

// errNotRunning: Publish before Run or after it returned.
var errNotRunning = errors.New("p2p node is not running")

// PublishBlock announces a block the node has processed (mined locally or
// submitted over RPC) to the network: its compact form, and the full
// block when a peer on the blocks topic does not speak compact blocks.
func (n *Node) PublishBlock(b *wire.Block) error {
	_, blocks, _ := n.gossip()
	ctx := n.runCtx()
	if blocks == nil || ctx == nil {
		return fmt.Errorf("publish block %s: %w", b.BlockID(), errNotRunning)
	}
	err := n.publishCompact(b)
	if err != nil || n.legacyPeers() {
		if err := blocks.Publish(ctx, b.Encode()); err != nil {
			return fmt.Errorf("publish block %s: %w", b.BlockID(), err)
		}
	}
	return nil
}

// PublishTx announces a transaction the pool has accepted.
func (n *Node) PublishTx(tx *wire.Tx) error {
	_, _, txs := n.gossip()
	ctx := n.runCtx()
	if txs == nil || ctx == nil {
		return fmt.Errorf("publish transaction %s: %w", tx.TxID(), errNotRunning)
	}
	if err := txs.Publish(ctx, tx.Encode()); err != nil {
		return fmt.Errorf("publish transaction %s: %w", tx.TxID(), err)
	}
	return nil
}

// RelayBlock is PublishBlock for callers that only log failures (the RPC
// layer's Relay interface).
func (n *Node) RelayBlock(b *wire.Block) {
	if err := n.PublishBlock(b); err != nil {
		n.log.Warn("relay block", "err", err)
	}
}

// RelayTx is PublishTx for callers that only log failures.
func (n *Node) RelayTx(tx *wire.Tx) {
	if err := n.PublishTx(tx); err != nil {
		n.log.Warn("relay transaction", "err", err)
	}
}
