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

// maxStartDials bounds the remembered peers dialed at start.
const maxStartDials = 16

// retrySoon spaces discovery attempts while the node has no peer or its
// routing table is empty.
const retrySoon = 10 * time.Second

// newDHT creates the Kademlia DHT in server mode under the network's own
// protocol prefix, so it never joins another network's DHT. Its bootstrap
// peers are exactly ours (never the library's public defaults).
func (n *Node) newDHT() error {
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
	d, err := dht.New(n.ctx, n.host, opts...)
	if err != nil {
		return fmt.Errorf("start DHT: %w", err)
	}
	n.dht = d
	return nil
}

// startDiscovery dials the bootstrap and remembered peers, then keeps the
// node connected: DHT rendezvous on the network id, optional mDNS, and a
// retry of the bootstrap peers whenever the node has no peer at all.
func (n *Node) startDiscovery() {
	n.goFunc(func() {
		n.dialKnown()
		if n.dht == nil {
			return
		}
		if err := n.dht.Bootstrap(n.ctx); err != nil {
			n.log.Warn("DHT bootstrap", "err", err)
		}
	})
	n.goFunc(n.reconnectLoop)
	if n.cfg.NoDiscovery || n.dht == nil {
		return
	}
	rd := drouting.NewRoutingDiscovery(n.dht)
	n.goFunc(func() { n.advertiseLoop(rd) })
	n.goFunc(func() { n.findLoop(rd) })
	if n.cfg.MDNS {
		n.mdns = mdns.NewMdnsService(n.host, "tally-"+n.rendezvous[len("tally/"):], mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.log.Warn("mDNS discovery off", "err", err)
		}
	}
}

// dialKnown dials the bootstrap peers and the most recently seen
// remembered peers in parallel.
func (n *Node) dialKnown() {
	targets := append([]peer.AddrInfo(nil), n.bootstrap...)
	if n.peerFile != nil {
		n.peersMu.Lock()
		known := n.peerFile.addrInfos()
		n.peersMu.Unlock()
		if len(known) > maxStartDials {
			known = known[:maxStartDials]
		}
		targets = append(targets, known...)
	}
	var wg sync.WaitGroup
	for _, ai := range targets {
		if n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		wg.Add(1)
		go func(ai peer.AddrInfo) {
			defer wg.Done()
			if err := n.connect(n.ctx, ai); err != nil {
				n.log.Debug("dial known peer", "peer", ai.ID, "err", err)
			}
		}(ai)
	}
	wg.Wait()
}

// reconnectLoop dials the known peers again while the node has none.
func (n *Node) reconnectLoop() {
	t := time.NewTicker(n.cfg.DiscoveryInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if n.Count() == 0 {
			n.dialKnown()
		}
	}
}

// advertiseLoop announces this node under the rendezvous key, again before
// the announcement expires, and soon after a failure (an empty routing
// table right after start).
func (n *Node) advertiseLoop(rd *drouting.RoutingDiscovery) {
	for {
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		ttl, err := rd.Advertise(ctx, n.rendezvous)
		cancel()
		wait := n.cfg.DiscoveryInterval
		if err == nil {
			wait = max(wait, ttl*7/8)
		} else {
			// Usually an empty routing table right after start: retry
			// soon.
			wait = min(wait, retrySoon)
			if n.ctx.Err() == nil {
				n.log.Debug("rendezvous advertise", "err", err)
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// findLoop looks up peers under the rendezvous key and dials them while
// the node has fewer than TargetPeers.
func (n *Node) findLoop(rd *drouting.RoutingDiscovery) {
	for {
		wait := n.cfg.DiscoveryInterval
		if n.Count() < n.cfg.TargetPeers {
			n.findOnce(rd)
			if n.Count() == 0 {
				wait = min(wait, retrySoon)
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (n *Node) findOnce(rd *drouting.RoutingDiscovery) {
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	ch, err := rd.FindPeers(ctx, n.rendezvous, discovery.Limit(4*n.cfg.TargetPeers))
	if err != nil {
		n.log.Debug("rendezvous lookup", "err", err)
		return
	}
	var wg sync.WaitGroup
	for ai := range ch {
		if ai.ID == n.host.ID() || len(ai.Addrs) == 0 || n.bans.banned(ai.ID) ||
			n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		if n.Count() >= n.cfg.TargetPeers {
			break
		}
		wg.Add(1)
		go func(ai peer.AddrInfo) {
			defer wg.Done()
			if err := n.connect(ctx, ai); err != nil {
				n.log.Debug("dial discovered peer", "peer", ai.ID, "err", err)
			}
		}(ai)
	}
	wg.Wait()
}

// mdnsNotifee dials peers found on the LAN.
type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.host.ID() || n.Count() >= n.cfg.TargetPeers || n.closed.Load() {
		return
	}
	go func() {
		if err := n.connect(n.ctx, ai); err != nil {
			n.log.Debug("dial mDNS peer", "peer", ai.ID, "err", err)
		}
	}()
}
