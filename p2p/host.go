package p2p

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// UserAgent is the agent version the node announces through identify.
const UserAgent = "tally/0.1"

// Resource limits for a small VPS (1-2 GB of RAM, 1024 file descriptors),
// explained in docs/p2p.md ("Resource limits"). The libp2p resource
// manager refuses a connection, stream or memory reservation beyond them.
const (
	limitSystemMemory  = 512 << 20
	limitSystemFD      = 512
	limitSystemConns   = 192
	limitConnsInbound  = 128
	limitConnsOutbound = 96
	limitSystemStreams = 4096
	limitPeerMemory    = 64 << 20 // a 1 MB block in flight both ways plus yamux windows
	limitPeerConns     = 8
	limitPeerStreams   = 512
	limitTransientMem  = 64 << 20
	limitSyncPerPeerIn = 16 // concurrent inbound sync streams from one peer
	limitSyncStreamsIn = 512
)

// resourceLimits returns the resource manager's limits: libp2p's defaults
// for its own services (identify, ping, ...) scaled to 1 GiB and 1024 file
// descriptors, then the explicit system, transient, per-peer and sync
// protocol limits above.
func resourceLimits(syncProto protocol.ID) rcmgr.ConcreteLimitConfig {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	scaling.AddProtocolLimit(syncProto,
		rcmgr.BaseLimit{StreamsInbound: limitSyncStreamsIn, StreamsOutbound: limitSyncStreamsIn, Streams: 2 * limitSyncStreamsIn, Memory: 128 << 20},
		rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolPeerLimit(syncProto,
		rcmgr.BaseLimit{StreamsInbound: limitSyncPerPeerIn, StreamsOutbound: 32, Streams: limitSyncPerPeerIn + 32, Memory: 48 << 20},
		rcmgr.BaseLimitIncrease{})
	base := scaling.Scale(1<<30, 1024)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Memory:          limitSystemMemory,
			FD:              limitSystemFD,
			Conns:           limitSystemConns,
			ConnsInbound:    limitConnsInbound,
			ConnsOutbound:   limitConnsOutbound,
			Streams:         limitSystemStreams,
			StreamsInbound:  limitSystemStreams / 2,
			StreamsOutbound: limitSystemStreams / 2,
		},
		Transient: rcmgr.ResourceLimits{
			Memory:          limitTransientMem,
			Conns:           64,
			ConnsInbound:    32,
			ConnsOutbound:   64,
			Streams:         256,
			StreamsInbound:  128,
			StreamsOutbound: 128,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Memory:          limitPeerMemory,
			Conns:           limitPeerConns,
			ConnsInbound:    limitPeerConns,
			ConnsOutbound:   limitPeerConns,
			Streams:         limitPeerStreams,
			StreamsInbound:  limitPeerStreams / 2,
			StreamsOutbound: limitPeerStreams / 2,
		},
	}
	return partial.Build(base)
}

// newHost builds the libp2p host: TCP and QUIC, Noise, yamux, the
// connection manager, the resource manager and the gater. No relay, no NAT
// port mapping, no hole punching.
func newHost(cfg *Config, key crypto.PrivKey, g *gater, syncProto protocol.ID) (host.Host, *connmgr.BasicConnMgr, error) {
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, nil, fmt.Errorf("connection manager: %w", err)
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits(syncProto)))
	if err != nil {
		return nil, nil, fmt.Errorf("resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionGater(g),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent(UserAgent),
		libp2p.SwarmOpts(swarm.WithDialRanker(tcpFirstRanker)),
	}
	if cfg.LoopbackOnly {
		opts = append(opts,
			libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr { return filterAddrs(addrs, isLoopback) }),
			libp2p.DisableIdentifyAddressDiscovery(),
		)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, nil, fmt.Errorf("start libp2p host on %v: %w", cfg.Listen, err)
	}
	return h, cm, nil
}

// quicFallbackDelay is how long a dial waits for a peer's TCP addresses
// before it also tries its QUIC ones.
const quicFallbackDelay = 500 * time.Millisecond

// tcpFirstRanker orders outgoing dials TCP first: a peer with TCP
// addresses is dialed on them at once (libp2p's default ranking among
// them), and on its QUIC addresses only quicFallbackDelay later, should TCP
// not have connected by then. Relaying a 1 MB block over TCP + Noise +
// yamux costs about 2.4 times less CPU than over QUIC in go-libp2p (see
// docs/performance.md), which matters on a 1-2 core VPS. A peer with only
// QUIC addresses is dialed on them at once; inbound QUIC is unaffected.
func tcpFirstRanker(addrs []ma.Multiaddr) []network.AddrDelay {
	var tcpAddrs, other []ma.Multiaddr
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			tcpAddrs = append(tcpAddrs, a)
		} else {
			other = append(other, a)
		}
	}
	if len(tcpAddrs) == 0 || len(other) == 0 {
		return swarm.DefaultDialRanker(addrs)
	}
	out := swarm.DefaultDialRanker(tcpAddrs)
	for _, d := range swarm.DefaultDialRanker(other) {
		d.Delay += quicFallbackDelay
		out = append(out, d)
	}
	return out
}
