package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"

	"tally/chain"
	"tally/consensus"
	"tally/wire"
)

// SyncProtocol returns the sync protocol id of a network.
func SyncProtocol(networkID [4]byte) protocol.ID {
	return protocol.ID(fmt.Sprintf("/tally/%x/sync/1", networkID[:]))
}

// Node is a Tally peer on the libp2p network: host, gossip, sync and
// discovery. New builds it and binds the listen addresses; Run serves
// until its context ends, then stops every loop, joins every goroutine
// and closes the host. A node that never ran is released with Close.
type Node struct {
	cfg   Config
	log   *slog.Logger
	p     *consensus.Params
	chain Chain
	pool  Mempool
	clock Clock
	self  peer.ID

	host host.Host // nil in fuzz targets (no network)
	cm   *connmgr.BasicConnMgr
	dht  *dht.IpfsDHT
	mdns mdns.Service

	blocksTopic, txsTopic string
	syncProto             protocol.ID
	rendezvous            string
	bootstrap             []peer.AddrInfo

	bans   *banList
	gater  *gater
	flood  floodGuard
	sync   *syncer
	relay  *relayer
	status *statusExchanger
	fair   *fairness
	cmpct  compactState // compact block relay (compact.go)

	// life guards the running state: goroutines are started only while
	// running, so that Run's final Wait joins every one of them.
	life    sync.Mutex
	running bool
	ctx     context.Context
	ps      *pubsub.PubSub
	blocks  *pubsub.Topic
	txs     *pubsub.Topic
	wg      sync.WaitGroup
	started atomic.Bool
	closed  atomic.Bool
	// noFinalSave (tests): stop as a killed process would, without the
	// final peer store write.
	noFinalSave atomic.Bool

	mu     sync.Mutex
	peers  map[peer.ID]*peerState
	scores atomic.Pointer[map[peer.ID]float64]

	addrs   *addrBook
	storeMu sync.Mutex    // one peers.json writer at a time
	dirty   chan struct{} // the address book or the bans changed: write soon

	stats counters
}

// peerState is what the node knows of a connected peer.
type peerState struct {
	id       peer.ID
	inbound  bool
	addr     string
	connTime time.Time
	// From the peer's last status (or later blocks it relayed).
	height   uint64
	tip      wire.Hash
	work     *big.Int
	statusAt time.Time
	speaks   bool // answered or sent a status: it runs the sync protocol
	// proved is the most cumulative work of a header chain the peer
	// sent us and we checked, or of a block it relayed that we accepted:
	// sync peers are chosen by it, never by the work a status claims.
	proved *big.Int
	// statusPending: a status request to this peer is queued or in
	// flight (one at a time per peer).
	statusPending bool
	// statusFails counts status requests in a row that got no answer;
	// the peer is asked again only after StatusInterval << statusFails.
	statusFails int
}

type kindCounters struct {
	accepted, rejected, ignored atomic.Uint64
}

type counters struct {
	blocks, txs   kindCounters
	banned        atomic.Uint64
	oversize      atomic.Uint64
	flood         atomic.Uint64
	garbage       atomic.Uint64
	syncHeaders   atomic.Uint64
	syncBlocks    atomic.Uint64
	syncRounds    atomic.Uint64
	stalls        atomic.Uint64
	timeouts      atomic.Uint64
	headersServed atomic.Uint64
	blocksServed  atomic.Uint64
	bannedDropped atomic.Uint64
	relayedLater  atomic.Uint64
	futureKept    atomic.Uint64
	peerSaves     atomic.Uint64
}

// Stats are the node's network counters since start.
type Stats struct {
	BlocksAccepted, BlocksRejected, BlocksIgnored uint64 // gossip validation
	TxsAccepted, TxsRejected, TxsIgnored          uint64
	PeersBanned                                   uint64 // bans issued
	OversizeDropped, FloodDropped                 uint64 // RPCs dropped before validation
	BannedDropped                                 uint64 // messages of banned peers dropped unvalidated
	GarbageStreams                                uint64 // sync streams closed for bad bytes
	SyncHeaders, SyncBlocks, SyncRounds           uint64 // fetched by the sync protocol
	SyncStalls                                    uint64 // body requests moved to another peer
	SyncTimeouts                                  uint64 // header requests that timed out
	HeadersServed, BlocksServed                   uint64
	RelayedLater                                  uint64 // orphans relayed once accepted
	FutureKept                                    uint64 // blocks kept until our clock reaches them
	PeerStoreWrites                               uint64
}

// Stats returns a snapshot of the counters.
func (n *Node) Stats() Stats {
	s := &n.stats
	return Stats{
		BlocksAccepted: s.blocks.accepted.Load(), BlocksRejected: s.blocks.rejected.Load(), BlocksIgnored: s.blocks.ignored.Load(),
		TxsAccepted: s.txs.accepted.Load(), TxsRejected: s.txs.rejected.Load(), TxsIgnored: s.txs.ignored.Load(),
		PeersBanned: s.banned.Load(), OversizeDropped: s.oversize.Load(), FloodDropped: s.flood.Load(),
		BannedDropped:  s.bannedDropped.Load(),
		GarbageStreams: s.garbage.Load(), SyncHeaders: s.syncHeaders.Load(), SyncBlocks: s.syncBlocks.Load(),
		SyncRounds: s.syncRounds.Load(), SyncStalls: s.stalls.Load(), SyncTimeouts: s.timeouts.Load(),
		HeadersServed: s.headersServed.Load(), BlocksServed: s.blocksServed.Load(),
		RelayedLater: s.relayedLater.Load(), FutureKept: s.futureKept.Load(), PeerStoreWrites: s.peerSaves.Load(),
	}
}

// newCore builds the parts of a node that need no network: config,
// chain and pool views, bans, syncer, relayer. New adds the host; the
// fuzz targets use the core alone.
func newCore(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "p2p"),
		p:         cfg.Params,
		chain:     cfg.Chain,
		pool:      cfg.Pool,
		clock:     cfg.Clock,
		syncProto: SyncProtocol(cfg.Params.NetworkID),
		peers:     make(map[peer.ID]*peerState),
		bans:      newBanList(cfg.BanDuration, cfg.Clock.Now),
		dirty:     make(chan struct{}, 1),
		addrs:     newAddrBook(),
	}
	n.cmpct.inflight = make(map[wire.Hash]bool)
	n.blocksTopic, n.txsTopic = Topics(cfg.Params.NetworkID)
	n.rendezvous = fmt.Sprintf("tally/%x", cfg.Params.NetworkID[:])
	n.sync = newSyncer(n)
	n.relay = newRelayer(n)
	n.status = newStatusExchanger(n)
	n.fair = newFairness()
	n.gater = &gater{bans: n.bans}
	if cfg.LoopbackOnly {
		n.gater.addrOK = isLoopback
	}
	return n, nil
}

// New creates the node: identity, peer store and a host listening on the
// configured addresses (so Addrs is known before Run). Nothing is dialed
// and no protocol is served before Run.
func New(cfg Config) (*Node, error) {
	n, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	cfg = n.cfg
	key := cfg.PrivateKey
	if key == nil {
		if cfg.DataDir == "" {
			key, err = ephemeralKey()
		} else {
			key, err = loadOrCreateKey(cfg.DataDir)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, s := range cfg.Bootstrap {
		ai, err := parseP2PAddr(s)
		if err != nil {
			return nil, fmt.Errorf("bootstrap address %q: %w", s, err)
		}
		n.bootstrap = append(n.bootstrap, ai)
	}
	if cfg.DataDir != "" {
		f, err := loadPeersFile(filepath.Join(cfg.DataDir, PeersFile))
		if err != nil {
			n.log.Warn("ignoring peer store", "err", err)
			f = &peersFile{Version: peersVersion}
		}
		n.addrs.load(f)
		for _, b := range f.Bans {
			if id, err := peer.Decode(b.ID); err == nil {
				n.bans.restore(id, b)
			}
		}
	}
	h, cm, err := newHost(&n.cfg, key, n.gater, n.syncProto)
	if err != nil {
		return nil, err
	}
	n.host, n.cm, n.self = h, cm, h.ID()
	h.Network().Notify(&network.NotifyBundle{ConnectedF: n.connected, DisconnectedF: n.disconnected})
	cfg.Chain.Subscribe(n.chainEvents)
	return n, nil
}

// parseP2PAddr parses a multiaddr ending in /p2p/<id>.
func parseP2PAddr(s string) (peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%w (a peer address ends in /p2p/<peer id>)", err)
	}
	return *ai, nil
}

// Run serves the network until ctx ends: it starts gossip, the DHT, the
// sync protocol, status exchanges, discovery and the peer store writer,
// then waits. When ctx ends it stops them all in order (handlers, DHT,
// host), writes the peer store, joins every goroutine it started and
// returns nil; an error means it could not start.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("p2p: Run called twice")
	}
	if n.closed.Load() {
		return errors.New("p2p: node closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	n.life.Lock()
	n.ctx, n.running = ctx, true
	n.life.Unlock()
	defer n.shutdown(cancel)

	if err := n.startGossip(ctx); err != nil {
		return err
	}
	if !n.cfg.noDHT {
		if err := n.newDHT(ctx); err != nil {
			return err
		}
	}
	n.host.SetStreamHandler(n.syncProto, n.handleSync)
	n.goFunc(func() { n.sync.run(ctx) })
	n.status.start(ctx)
	n.goFunc(n.statusLoop)
	n.goFunc(n.saveLoop)
	n.goFunc(func() { n.relay.futureLoop(ctx) })
	n.startDiscovery(ctx)
	// Peers that connected between New and Run.
	for _, p := range n.host.Network().Peers() {
		n.status.ask(p)
	}
	n.log.Info("p2p started", "id", n.self, "addrs", n.Addrs())
	<-ctx.Done()
	return nil
}

// shutdown stops everything Run started, in order: no new goroutines,
// handlers off, cancel, mDNS and DHT, the host, then wait for ours.
func (n *Node) shutdown(cancel context.CancelFunc) {
	n.life.Lock()
	n.running = false
	n.life.Unlock()
	n.closed.Store(true)
	n.host.RemoveStreamHandler(n.syncProto)
	if !n.noFinalSave.Load() {
		n.savePeers()
	}
	cancel()
	if n.mdns != nil {
		n.mdns.Close()
	}
	if n.dht != nil {
		if err := n.dht.Close(); err != nil {
			n.log.Debug("close DHT", "err", err)
		}
	}
	if err := n.host.Close(); err != nil {
		n.log.Debug("close host", "err", err)
	}
	n.wg.Wait()
}

// goFunc runs f in a goroutine that Run joins before it returns; after
// shutdown began it does nothing.
func (n *Node) goFunc(f func()) bool {
	n.life.Lock()
	defer n.life.Unlock()
	if !n.running {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// runCtx returns Run's context (nil before Run).
func (n *Node) runCtx() context.Context {
	n.life.Lock()
	defer n.life.Unlock()
	return n.ctx
}

// gossip returns the router and topics (nil before Run).
func (n *Node) gossip() (*pubsub.PubSub, *pubsub.Topic, *pubsub.Topic) {
	n.life.Lock()
	defer n.life.Unlock()
	return n.ps, n.blocks, n.txs
}

// Close releases a node that never ran (Run releases what it started).
func (n *Node) Close() error {
	if n.started.Load() || !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	return n.host.Close()
}

// ID returns the node's libp2p peer id.
func (n *Node) ID() peer.ID { return n.self }

// Host returns the libp2p host (tests, benchmarks).
func (n *Node) Host() host.Host { return n.host }

// Addrs returns the listen multiaddrs with /p2p/<id>, one per address, as
// <datadir>/p2p.addr wants them.
func (n *Node) Addrs() []string {
	var out []string
	suffix := "/p2p/" + n.self.String()
	for _, a := range n.host.Addrs() {
		out = append(out, a.String()+suffix)
	}
	sort.Strings(out)
	return out
}

// ListenAddrs is Addrs (the RPC layer's name).
func (n *Node) ListenAddrs() []string { return n.Addrs() }

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID       string        // libp2p peer id
	Addr     string        // remote multiaddr
	Inbound  bool          // the peer dialed us
	ConnTime time.Time     // when the connection was made
	Agent    string        // identify agent version
	Height   uint64        // best height the peer announced (or relayed)
	Tip      wire.Hash     // its tip
	PingTime time.Duration // latency estimate
	Score    float64       // gossipsub peer score
	BanScore float64       // our misbehaviour points
	Topics   []string      // gossip topics it shares with us
}

// Peers lists the connected peers.
func (n *Node) Peers() []PeerInfo {
	scores := map[peer.ID]float64{}
	if p := n.scores.Load(); p != nil {
		scores = *p
	}
	topics := map[peer.ID][]string{}
	if ps, _, _ := n.gossip(); ps != nil {
		for _, t := range []string{n.blocksTopic, n.txsTopic, n.cmpct.topicName} {
			for _, p := range ps.ListPeers(t) {
				topics[p] = append(topics[p], t)
			}
		}
	}
	n.mu.Lock()
	out := make([]PeerInfo, 0, len(n.peers))
	for id, ps := range n.peers {
		out = append(out, PeerInfo{
			ID: id.String(), Addr: ps.addr, Inbound: ps.inbound, ConnTime: ps.connTime,
			Height: ps.height, Tip: ps.tip, Score: scores[id], Topics: topics[id],
		})
	}
	n.mu.Unlock()
	for i := range out {
		id, _ := peer.Decode(out[i].ID)
		out[i].PingTime = n.host.Peerstore().LatencyEWMA(id)
		if v, err := n.host.Peerstore().Get(id, "AgentVersion"); err == nil {
			out[i].Agent, _ = v.(string)
		}
		out[i].BanScore = n.bans.score(id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConnTime.Before(out[j].ConnTime) })
	return out
}

// Count returns the number of connected peers.
func (n *Node) Count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.peers)
}

// Outbound returns the number of connected peers this node dialed.
func (n *Node) Outbound() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, ps := range n.peers {
		if !ps.inbound {
			c++
		}
	}
	return c
}

// Banned returns the number of peers banned now.
func (n *Node) Banned() int { return len(n.bans.list()) }

// BanList returns the active bans.
func (n *Node) BanList() []BanInfo { return n.bans.list() }

// IsBanned reports whether a peer is banned now.
func (n *Node) IsBanned(id peer.ID) bool { return n.bans.banned(id) }

// Syncing reports whether the node is fetching headers or blocks.
func (n *Node) Syncing() bool { return n.sync.active.Load() }

// AddNode connects to a peer given as a multiaddr with /p2p/<id> and keeps
// the connection protected from the connection manager's trimming.
func (n *Node) AddNode(ctx context.Context, addr string) error {
	ai, err := parseP2PAddr(addr)
	if err != nil {
		return fmt.Errorf("addnode %q: %w", addr, err)
	}
	if ai.ID == n.self {
		return errors.New("addnode: that is this node's own address")
	}
	if n.bans.banned(ai.ID) {
		return fmt.Errorf("addnode: peer %s is banned", ai.ID)
	}
	if err := n.connect(ctx, ai); err != nil {
		return fmt.Errorf("addnode %s: %w", addr, err)
	}
	n.cm.Protect(ai.ID, "addnode")
	return nil
}

// dialTimeout bounds one outbound dial.
const dialTimeout = 10 * time.Second

// connect dials a peer with a bounded timeout, filtering its addresses,
// and records the outcome in the address book.
func (n *Node) connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == n.self || n.bans.banned(ai.ID) {
		return nil
	}
	if n.gater.addrOK != nil {
		ai.Addrs = filterAddrs(ai.Addrs, n.gater.addrOK)
	}
	ctx, cancel := withTimeout(ctx, n.clock, dialTimeout)
	defer cancel()
	err := n.host.Connect(ctx, ai)
	n.addrs.attempt(ai, err == nil, n.clock.Now())
	if err == nil {
		n.peerStoreChanged()
	}
	return err
}

// misbehave adds points to a peer; at BanThreshold it is banned and
// disconnected. Safe to call from pubsub's event loop.
func (n *Node) misbehave(p peer.ID, pts float64, reason string) {
	if p == n.self || p == "" {
		return
	}
	if !n.bans.add(p, pts, reason) {
		n.log.Debug("peer misbehaved", "peer", p, "points", pts, "reason", reason)
		return
	}
	n.stats.banned.Add(1)
	n.log.Warn("banning peer", "peer", p, "reason", reason, "for", n.cfg.BanDuration)
	n.peerStoreChanged()
	if n.host == nil {
		return
	}
	n.goFunc(func() {
		n.cm.Unprotect(p, "addnode")
		_ = n.host.Network().ClosePeer(p)
		n.host.Peerstore().ClearAddrs(p)
	})
}

// Connection manager tag values: outbound peers are trimmed last, so
// inbound connections cannot push out the ones we chose.
const outboundTag = 20

// connected is the network notifiee's hook for a new connection.
func (n *Node) connected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	inbound := c.Stat().Direction == network.DirInbound
	n.mu.Lock()
	ps, known := n.peers[p]
	if !known {
		ps = &peerState{id: p, inbound: inbound, addr: c.RemoteMultiaddr().String(),
			connTime: n.clock.Now(), work: new(big.Int), proved: new(big.Int)}
		n.peers[p] = ps
	}
	n.mu.Unlock()
	if known {
		return
	}
	n.log.Debug("peer connected", "peer", p, "addr", c.RemoteMultiaddr(), "inbound", inbound)
	if !inbound {
		// We dialed it (ourselves or through the DHT): it is a peer we
		// can reach, for the tried table.
		n.cm.TagPeer(p, "outbound", outboundTag)
		addr := c.RemoteMultiaddr()
		if n.gater.addrOK == nil || n.gater.addrOK(addr) {
			n.addrs.attempt(peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{addr}}, true, n.clock.Now())
		}
	}
	n.status.ask(p)
	n.peerStoreChanged()
}

// disconnected forgets a peer when its last connection closes.
func (n *Node) disconnected(nw network.Network, c network.Conn) {
	p := c.RemotePeer()
	if nw.Connectedness(p) == network.Connected {
		return
	}
	n.mu.Lock()
	_, known := n.peers[p]
	delete(n.peers, p)
	n.mu.Unlock()
	n.flood.forget(p)
	if known {
		n.log.Debug("peer disconnected", "peer", p, "addr", c.RemoteMultiaddr())
	}
}

// peerSnapshot returns copies of the peer states.
func (n *Node) peerSnapshot() []peerState {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]peerState, 0, len(n.peers))
	for _, ps := range n.peers {
		out = append(out, *ps)
	}
	return out
}

// notePeerBlock records that a peer relayed a block we now have on our
// best chain: it has it, and has proved that much work.
func (n *Node) notePeerBlock(p peer.ID, id wire.Hash) {
	info, ok := n.chain.BlockInfo(id)
	if !ok {
		return
	}
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil {
		if info.Work.Cmp(ps.work) > 0 {
			ps.height, ps.tip, ps.work = info.Height, id, info.Work
		}
		if info.Work.Cmp(ps.proved) > 0 {
			ps.proved = info.Work
		}
	}
	n.mu.Unlock()
}

// noteProved records that a peer sent a checked header chain reaching
// work.
func (n *Node) noteProved(p peer.ID, work *big.Int) {
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil && work.Cmp(ps.proved) > 0 {
		ps.proved = new(big.Int).Set(work)
	}
	n.mu.Unlock()
}

// chainEvents relays blocks connected that we had to leave unrelayed
// (orphans, blocks from the future) and re-announces the transactions of
// disconnected blocks that are back in the pool after a reorganization:
// nodes that only saw the other branch never had them. Gossipsub drops a
// message it saw within SeenTTL (its cache is swept once a minute), so
// the first attempt only reaches nodes that never saw the transaction
// announced; a second one after the cache forgot it reaches the rest.
func (n *Node) chainEvents(events []chain.Event) {
	if n.closed.Load() {
		return
	}
	var txs []*wire.Tx
	for _, ev := range events {
		switch ev.Kind {
		case chain.BlockConnected:
			n.relay.connected(ev)
		case chain.BlockDisconnected:
			if ev.Block != nil && len(ev.Block.Txs) > 1 {
				txs = append(txs, ev.Block.Txs[1:]...)
			}
		}
	}
	if len(txs) == 0 {
		return
	}
	n.goFunc(func() {
		ctx := n.runCtx()
		for _, wait := range []time.Duration{500 * time.Millisecond, n.cfg.SeenTTL + seenSweep} {
			if !sleep(ctx, n.clock, wait) {
				return
			}
			_, _, topic := n.gossip()
			for _, tx := range txs {
				if n.pool.Has(tx.TxID()) {
					_ = topic.Publish(ctx, tx.Encode())
				}
			}
		}
	})
}

// seenSweep is how often gossipsub's seen cache drops expired ids, plus
// a margin.
const seenSweep = 65 * time.Second

// Tip status of this node.
func (n *Node) ourStatus() status {
	t := n.chain.Tip()
	return status{Genesis: n.p.GenesisID, Height: t.Height, Tip: t.ID, Work: t.Work}
}

// statusLoop asks peers for their status again when it is older than
// StatusInterval (longer for peers that did not answer), so a missed
// block or a healed partition is noticed.
func (n *Node) statusLoop() {
	ctx := n.runCtx()
	t := newTicker(n.clock, n.cfg.StatusInterval/2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := n.clock.Now()
		for _, ps := range n.peerSnapshot() {
			wait := n.cfg.StatusInterval << min(ps.statusFails, 5)
			if now.Sub(ps.statusAt) >= wait {
				n.status.ask(ps.id)
			}
		}
	}
}
