package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	ma "github.com/multiformats/go-multiaddr"
)

// retrySoon spaces discovery attempts while the node has no peer or its
// routing table is empty.
const retrySoon = 10 * time.Second

// newDHT creates the Kademlia DHT in server mode under the network's own
// protocol prefix, so it never joins another network's DHT. Its bootstrap
// peers are exactly ours (never the library's public defaults).
func (n *Node) newDHT(ctx context.Context) error {
	opts := []dht.Option{
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(protocol.ID(fmt.Sprintf("/tally/%x", n.p.NetworkID[:]))),
		dht.BootstrapPeersFunc(func() []peer.AddrInfo { return n.bootstrap }),
		dht.DisableValues(),
	}
	if n.gater.addrOK != nil {
		ok := n.gater.addrOK
		opts = append(opts, dht.AddressFilter(func(addrs []ma.Multiaddr) []ma.Multiaddr { return filterAddrs(addrs, ok) }))
	}
	d, err := dht.New(ctx, n.host, opts...)
	if err != nil {
		return fmt.Errorf("start DHT: %w", err)
	}
	n.dht = d
	return nil
}

// startDiscovery dials the bootstrap and remembered peers, then keeps the
// node's outbound connections at TargetPeers (inbound ones do not count):
// the address book, DHT rendezvous on the network id, optional mDNS, and
// a periodic feeler connection to a peer the book has only heard of, even
// when the target is met, so an eclipse by the peers we happen to have
// does not last.
func (n *Node) startDiscovery(ctx context.Context) {
	n.goFunc(func() {
		n.dialKnown(ctx, n.cfg.TargetPeers)
		if n.dht == nil {
			return
		}
		if err := n.dht.Bootstrap(ctx); err != nil {
			n.log.Debug("DHT bootstrap", "err", err)
		}
	})
	n.goFunc(func() { n.outboundLoop(ctx) })
	if n.cfg.NoDiscovery || n.dht == nil {
		return
	}
	rd := drouting.NewRoutingDiscovery(n.dht)
	n.goFunc(func() { n.advertiseLoop(ctx, rd) })
	n.goFunc(func() { n.findLoop(ctx, rd) })
	if n.cfg.MDNS {
		n.mdns = mdns.NewMdnsService(n.host, "tally-"+n.rendezvous[len("tally/"):], mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.log.Warn("mDNS discovery off", "err", err)
		}
	}
}

// connectedTo reports whether the node has a connection to p.
func (n *Node) connectedTo(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Connected
}

// dialKnown dials up to max peers in parallel: the bootstrap peers, then
// the address book's (tried before new).
func (n *Node) dialKnown(ctx context.Context, max int) {
	var targets []peer.AddrInfo
	for _, ai := range n.bootstrap {
		if !n.connectedTo(ai.ID) && !n.bans.banned(ai.ID) {
			targets = append(targets, ai)
		}
	}
	skip := func(p peer.ID) bool { return p == n.self || n.connectedTo(p) || n.bans.banned(p) }
	targets = append(targets, n.addrs.candidates(max, n.clock.Now(), skip)...)
	n.dialAll(ctx, targets)
}

// dialAll dials peers in parallel and waits for the dials.
func (n *Node) dialAll(ctx context.Context, targets []peer.AddrInfo) {
	var wg sync.WaitGroup
	for _, ai := range targets {
		wg.Add(1)
		go func(ai peer.AddrInfo) {
			defer wg.Done()
			if err := n.connect(ctx, ai); err != nil {
				n.log.Debug("dial peer", "peer", ai.ID, "err", err)
			}
		}(ai)
	}
	wg.Wait()
}

// outboundLoop tops the outbound connections up to TargetPeers from the
// bootstrap peers and the address book every DiscoveryInterval, and
// every OutboundRefresh opens one feeler connection to a peer not
// connected now (new table first): it tests an address the node only
// heard of and, when it answers, moves it to tried.
func (n *Node) outboundLoop(ctx context.Context) {
	t := newTicker(n.clock, n.cfg.DiscoveryInterval)
	defer t.Stop()
	lastFeeler := n.clock.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if missing := n.cfg.TargetPeers - n.Outbound(); missing > 0 {
			n.dialKnown(ctx, missing)
		}
		if n.clock.Now().Sub(lastFeeler) >= n.cfg.OutboundRefresh {
			lastFeeler = n.clock.Now()
			n.feeler(ctx)
		}
	}
}

// feeler dials one address the node is not connected to, preferring the
// new table.
func (n *Node) feeler(ctx context.Context) {
	skip := func(p peer.ID) bool { return p == n.self || n.connectedTo(p) || n.bans.banned(p) }
	cands := n.addrs.candidates(maxTried+maxNew, n.clock.Now(), skip)
	if len(cands) == 0 {
		return
	}
	// The new-table entries come last: take the last one.
	n.dialAll(ctx, cands[len(cands)-1:])
}

// advertiseLoop announces this node under the rendezvous key, again before
// the announcement expires, and soon after a failure (an empty routing
// table right after start).
func (n *Node) advertiseLoop(ctx context.Context, rd *drouting.RoutingDiscovery) {
	for {
		actx, cancel := withTimeout(ctx, n.clock, time.Minute)
		ttl, err := rd.Advertise(actx, n.rendezvous)
		cancel()
		wait := n.cfg.DiscoveryInterval
		if err == nil {
			wait = max(wait, ttl*7/8)
		} else {
			// Usually an empty routing table right after start: retry
			// soon.
			wait = min(wait, retrySoon)
			if ctx.Err() == nil {
				n.log.Debug("rendezvous advertise", "err", err)
			}
		}
		if !sleep(ctx, n.clock, wait) {
			return
		}
	}
}

// findLoop looks up peers under the rendezvous key, records them in the
// address book and dials them while the node has fewer than TargetPeers
// outbound connections.
func (n *Node) findLoop(ctx context.Context, rd *drouting.RoutingDiscovery) {
	for {
		wait := n.cfg.DiscoveryInterval
		if n.Outbound() < n.cfg.TargetPeers {
			n.findOnce(ctx, rd)
			if n.Count() == 0 {
				wait = min(wait, retrySoon)
			}
		}
		if !sleep(ctx, n.clock, wait) {
			return
		}
	}
}

func (n *Node) findOnce(ctx context.Context, rd *drouting.RoutingDiscovery) {
	ctx, cancel := withTimeout(ctx, n.clock, 30*time.Second)
	defer cancel()
	ch, err := rd.FindPeers(ctx, n.rendezvous, discovery.Limit(4*n.cfg.TargetPeers))
	if err != nil {
		n.log.Debug("rendezvous lookup", "err", err)
		return
	}
	var targets []peer.AddrInfo
	for ai := range ch {
		if ai.ID == n.self || len(ai.Addrs) == 0 || n.bans.banned(ai.ID) {
			continue
		}
		if n.gater.addrOK != nil {
			ai.Addrs = filterAddrs(ai.Addrs, n.gater.addrOK)
		}
		n.addrs.heard(ai, n.clock.Now())
		if !n.connectedTo(ai.ID) && len(targets) < n.cfg.TargetPeers-n.Outbound() {
			targets = append(targets, ai)
		}
	}
	n.dialAll(ctx, targets)
}

// mdnsNotifee records peers found on the LAN and dials them while
// outbound connections are missing.
type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.self || n.closed.Load() {
		return
	}
	n.addrs.heard(ai, n.clock.Now())
	if n.Outbound() >= n.cfg.TargetPeers {
		return
	}
	n.goFunc(func() {
		if err := n.connect(n.runCtx(), ai); err != nil {
			n.log.Debug("dial mDNS peer", "peer", ai.ID, "err", err)
		}
	})
}
