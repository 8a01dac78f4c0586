package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"path/filepath"
	"slices"
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
	"tally/mempool"
	"tally/wire"
)

// SyncProtocol returns the sync protocol id of a network.
func SyncProtocol(networkID [4]byte) protocol.ID {
	return protocol.ID(fmt.Sprintf("/tally/%x/sync/1", networkID[:]))
}

// Node is a Tally peer on the libp2p network: host, gossip, sync and
// discovery. Create it with New, then Start; Close stops it.
type Node struct {
	cfg   Config
	log   *slog.Logger
	p     *consensus.Params
	chain *chain.Chain
	pool  *mempool.Pool

	host   host.Host
	cm     *connmgr.BasicConnMgr
	ps     *pubsub.PubSub
	blocks *pubsub.Topic
	txs    *pubsub.Topic
	dht    *dht.IpfsDHT
	mdns   mdns.Service

	blocksTopic, txsTopic string
	syncProto             protocol.ID
	rendezvous            string
	bootstrap             []peer.AddrInfo

	bans  *banList
	gater *gater
	flood floodGuard
	sync  *syncer
	cmpct compactState // compact block relay (compact.go)

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool
	closed  atomic.Bool

	mu     sync.Mutex
	peers  map[peer.ID]*peerState
	scores atomic.Pointer[map[peer.ID]float64]

	peersMu   sync.Mutex // guards peerFile
	peerFile  *peersFile
	statusSem chan struct{}

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
	headersServed atomic.Uint64
	blocksServed  atomic.Uint64
}

// Stats are the node's network counters since start.
type Stats struct {
	BlocksAccepted, BlocksRejected, BlocksIgnored uint64 // gossip validation
	TxsAccepted, TxsRejected, TxsIgnored          uint64
	PeersBanned                                   uint64 // bans issued
	OversizeDropped, FloodDropped                 uint64 // RPCs dropped before validation
	GarbageStreams                                uint64 // sync streams closed for bad bytes
	SyncHeaders, SyncBlocks, SyncRounds           uint64 // fetched by the sync protocol
	SyncStalls                                    uint64 // body requests moved to another peer
	HeadersServed, BlocksServed                   uint64
}

// Stats returns a snapshot of the counters.
func (n *Node) Stats() Stats {
	s := &n.stats
	return Stats{
		BlocksAccepted: s.blocks.accepted.Load(), BlocksRejected: s.blocks.rejected.Load(), BlocksIgnored: s.blocks.ignored.Load(),
		TxsAccepted: s.txs.accepted.Load(), TxsRejected: s.txs.rejected.Load(), TxsIgnored: s.txs.ignored.Load(),
		PeersBanned: s.banned.Load(), OversizeDropped: s.oversize.Load(), FloodDropped: s.flood.Load(),
		GarbageStreams: s.garbage.Load(), SyncHeaders: s.syncHeaders.Load(), SyncBlocks: s.syncBlocks.Load(),
		SyncRounds: s.syncRounds.Load(), SyncStalls: s.stalls.Load(),
		HeadersServed: s.headersServed.Load(), BlocksServed: s.blocksServed.Load(),
	}
}

// New creates the node: identity, host, gossip topics and validators, the
// sync protocol handler and the DHT. Nothing is dialed before Start. ctx
// bounds the node's lifetime (Close also stops it).
func New(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	key := cfg.PrivateKey
	if key == nil {
		if cfg.DataDir == "" {
			var err error
			if key, err = ephemeralKey(); err != nil {
				return nil, err
			}
		} else {
			var err error
			if key, err = loadOrCreateKey(cfg.DataDir); err != nil {
				return nil, err
			}
		}
	}
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "p2p"),
		p:         cfg.Params,
		chain:     cfg.Chain,
		pool:      cfg.Pool,
		syncProto: SyncProtocol(cfg.Params.NetworkID),
		peers:     make(map[peer.ID]*peerState),
		bans:      newBanList(cfg.BanDuration, cfg.Now),
		statusSem: make(chan struct{}, 8),
	}
	n.blocksTopic, n.txsTopic = Topics(cfg.Params.NetworkID)
	n.rendezvous = fmt.Sprintf("tally/%x", cfg.Params.NetworkID[:])
	n.ctx, n.cancel = context.WithCancel(ctx)
	n.sync = newSyncer(n)
	for _, s := range cfg.Bootstrap {
		ai, err := parseP2PAddr(s)
		if err != nil {
			n.cancel()
			return nil, fmt.Errorf("bootstrap address %q: %w", s, err)
		}
		n.bootstrap = append(n.bootstrap, ai)
	}
	n.gater = &gater{bans: n.bans}
	if cfg.LoopbackOnly {
		n.gater.addrOK = isLoopback
	}
	if cfg.DataDir != "" {
		f, err := loadPeersFile(filepath.Join(cfg.DataDir, PeersFile))
		if err != nil {
			n.log.Warn("ignoring peer store", "err", err)
			f = &peersFile{Version: 1}
		}
		n.peerFile = f
		for _, b := range f.Bans {
			if id, err := peer.Decode(b.ID); err == nil {
				n.bans.restore(id, b)
			}
		}
	}
	h, cm, err := newHost(&n.cfg, key, n.gater, n.syncProto)
	if err != nil {
		n.cancel()
		return nil, err
	}
	n.host, n.cm = h, cm
	fail := func(err error) (*Node, error) {
		n.cancel()
		h.Close()
		return nil, err
	}
	h.Network().Notify(&network.NotifyBundle{ConnectedF: n.connected, DisconnectedF: n.disconnected})
	h.SetStreamHandler(n.syncProto, n.handleSync)
	if err := n.startGossip(); err != nil {
		return fail(err)
	}
	if !cfg.noDHT {
		if err := n.newDHT(); err != nil {
			return fail(err)
		}
	}
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

// Start connects to the bootstrap peers and the remembered ones and
// starts discovery, sync and the periodic jobs.
func (n *Node) Start() error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("p2p: already started")
	}
	n.goFunc(func() { n.sync.run(n.ctx) })
	n.goFunc(n.statusLoop)
	n.goFunc(n.saveLoop)
	n.startDiscovery()
	n.log.Info("p2p started", "id", n.host.ID(), "addrs", n.Addrs())
	return nil
}

// goFunc runs f in a goroutine Close waits for.
func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Close stops the node, saves the peer store and closes the host.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	n.savePeers()
	n.cancel()
	if n.mdns != nil {
		n.mdns.Close()
	}
	var errs []error
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	errs = append(errs, n.host.Close())
	n.wg.Wait()
	return errors.Join(errs...)
}

// ID returns the node's libp2p peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host returns the libp2p host (tests, benchmarks).
func (n *Node) Host() host.Host { return n.host }

// Addrs returns the listen multiaddrs with /p2p/<id>, one per address, as
// <datadir>/p2p.addr wants them.
func (n *Node) Addrs() []string {
	var out []string
	suffix := "/p2p/" + n.host.ID().String()
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
	if n.ps != nil {
		for _, t := range []string{n.blocksTopic, n.txsTopic, n.cmpct.topicName} {
			for _, p := range n.ps.ListPeers(t) {
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
	if ai.ID == n.host.ID() {
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

// connect dials a peer with a bounded timeout, filtering its addresses.
func (n *Node) connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == n.host.ID() || n.bans.banned(ai.ID) {
		return nil
	}
	if n.gater.addrOK != nil {
		ai.Addrs = filterAddrs(ai.Addrs, n.gater.addrOK)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return n.host.Connect(ctx, ai)
}

// misbehave adds points to a peer; at BanThreshold it is banned and
// disconnected. Safe to call from pubsub's event loop.
func (n *Node) misbehave(p peer.ID, pts float64, reason string) {
	if p == n.host.ID() || p == "" {
		return
	}
	if !n.bans.add(p, pts, reason) {
		n.log.Debug("peer misbehaved", "peer", p, "points", pts, "reason", reason)
		return
	}
	n.stats.banned.Add(1)
	n.log.Warn("banning peer", "peer", p, "reason", reason, "for", n.cfg.BanDuration)
	go func() {
		n.cm.Unprotect(p, "addnode")
		_ = n.host.Network().ClosePeer(p)
		n.host.Peerstore().ClearAddrs(p)
	}()
}

// connected is the network notifiee's hook for a new connection.
func (n *Node) connected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	n.mu.Lock()
	ps, known := n.peers[p]
	if !known {
		ps = &peerState{id: p, inbound: c.Stat().Direction == network.DirInbound,
			addr: c.RemoteMultiaddr().String(), connTime: time.Now(), work: new(big.Int)}
		n.peers[p] = ps
	}
	n.mu.Unlock()
	if !known && !n.closed.Load() {
		go n.exchangeStatus(p)
	}
}

// disconnected forgets a peer when its last connection closes.
func (n *Node) disconnected(nw network.Network, c network.Conn) {
	p := c.RemotePeer()
	if nw.Connectedness(p) == network.Connected {
		return
	}
	n.mu.Lock()
	delete(n.peers, p)
	n.mu.Unlock()
	n.flood.forget(p)
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

// notePeerBlock records that a peer relayed a valid block: it has it.
func (n *Node) notePeerBlock(p peer.ID, id wire.Hash) {
	info, ok := n.chain.BlockInfo(id)
	if !ok {
		return
	}
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil && info.Work.Cmp(ps.work) > 0 {
		ps.height, ps.tip, ps.work = info.Height, id, info.Work
	}
	n.mu.Unlock()
}

// chainEvents re-announces the transactions of disconnected blocks that
// are back in the pool after a reorganization: nodes that only saw the
// other branch never had them. Gossipsub drops a message it saw within
// SeenTTL (its cache is swept once a minute), so the first attempt only
// reaches nodes that never saw the transaction announced; a second one
// after the cache forgot it reaches the rest.
func (n *Node) chainEvents(events []chain.Event) {
	if n.closed.Load() {
		return
	}
	var txs []*wire.Tx
	for _, ev := range events {
		if ev.Kind == chain.BlockDisconnected && ev.Block != nil && len(ev.Block.Txs) > 1 {
			txs = append(txs, ev.Block.Txs[1:]...)
		}
	}
	if len(txs) == 0 {
		return
	}
	n.goFunc(func() {
		for _, wait := range []time.Duration{500 * time.Millisecond, n.cfg.SeenTTL + seenSweep} {
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(wait):
			}
			for _, tx := range txs {
				if n.pool.Has(tx.TxID()) {
					_ = n.txs.Publish(n.ctx, tx.Encode())
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
// StatusInterval, so a missed block or a healed partition is noticed.
func (n *Node) statusLoop() {
	t := time.NewTicker(n.cfg.StatusInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		for _, ps := range n.peerSnapshot() {
			if time.Since(ps.statusAt) >= n.cfg.StatusInterval {
				go n.exchangeStatus(ps.id)
			}
		}
	}
}

// saveLoop writes peers.json periodically.
func (n *Node) saveLoop() {
	if n.peerFile == nil {
		return
	}
	t := time.NewTicker(n.cfg.PeerSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.savePeers()
		}
	}
}

// savePeers merges the connected peers' addresses into peers.json with
// the active bans and writes it.
func (n *Node) savePeers() {
	if n.peerFile == nil {
		return
	}
	var seen []peer.AddrInfo
	for _, p := range n.host.Network().Peers() {
		if n.bans.banned(p) {
			continue
		}
		addrs := n.host.Peerstore().Addrs(p)
		if n.gater.addrOK != nil {
			addrs = filterAddrs(addrs, n.gater.addrOK)
		}
		if len(addrs) > 0 {
			seen = append(seen, peer.AddrInfo{ID: p, Addrs: addrs})
		}
	}
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	n.peerFile.merge(seen, time.Now())
	n.peerFile.Peers = slices.DeleteFunc(n.peerFile.Peers, func(r peerRecord) bool {
		id, err := peer.Decode(r.ID)
		return err != nil || n.bans.banned(id)
	})
	n.peerFile.Bans = n.bans.list()
	if err := n.peerFile.save(filepath.Join(n.cfg.DataDir, PeersFile), time.Now()); err != nil {
		n.log.Warn("could not save the peer store", "err", err)
	}
}
