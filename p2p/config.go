package p2p

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"

	"tally/consensus"
)

// Config configures a Node. Zero fields take the defaults below.
type Config struct {
	// DataDir holds p2p.key and peers.json. Empty: a fresh identity
	// each start (unless PrivateKey is set) and no peer store.
	DataDir string
	Params  *consensus.Params
	Chain   Chain
	Pool    Mempool
	// Listen multiaddrs; port 0 picks a free port. Default: TCP and QUIC
	// on all IPv4 and IPv6 interfaces at Params.P2PPort.
	Listen []string
	// Bootstrap multiaddrs with /p2p/<id>. nil means Params.Bootstrap; an
	// empty non-nil slice means none.
	Bootstrap []string
	// MDNS turns on LAN discovery.
	MDNS   bool
	Logger *slog.Logger

	// ConnLow and ConnHigh are the connection manager's watermarks
	// (default 32 and 64).
	ConnLow, ConnHigh int
	// TargetPeers is the outbound target: discovery dials while fewer
	// peers that this node dialed are connected; inbound connections do
	// not count (default 16).
	TargetPeers int
	// OutboundRefresh spaces feeler connections that test an address the
	// node is not connected to even when the target is met (default 2
	// minutes).
	OutboundRefresh time.Duration
	// BanDuration (default 1 hour, at least MinBanDuration).
	BanDuration time.Duration
	// NoDiscovery turns off the DHT rendezvous and mDNS (benchmarks that
	// build their own topology); the DHT still serves peers.
	NoDiscovery bool
	// DiscoveryInterval spaces rendezvous lookups (default 1 minute;
	// tests use less).
	DiscoveryInterval time.Duration
	// StatusInterval: how often a peer's chain status is asked again
	// (default 30 s).
	StatusInterval time.Duration
	// PeerSaveDelay: how soon after a change (a new peer, a ban)
	// peers.json is written (default 2 s); it is also written every
	// minute while peers come and go.
	PeerSaveDelay time.Duration
	// PrivateKey overrides the key file (tests).
	PrivateKey crypto.PrivKey
	// LoopbackOnly restricts dialing, accepting and advertising to
	// loopback addresses (tests).
	LoopbackOnly bool
	// Clock is the node's time for header checks, bans, timeouts and
	// periodic jobs (default: the wall clock); give it the chain's offset.
	Clock Clock
	// SeenTTL is how long gossipsub remembers message ids (default 2 min).
	SeenTTL time.Duration

	// noDHT leaves the DHT out entirely (benchmarks with a fixed
	// topology: DHT queries dial the peers they learn of).
	noDHT bool
}

// Defaults.
const (
	DefaultConnLow        = 32
	DefaultConnHigh       = 64
	DefaultTargetPeers    = 16
	DefaultBanDuration    = time.Hour
	DefaultDiscovery      = time.Minute
	DefaultStatusInterval = 30 * time.Second
	DefaultPeerSaveDelay  = 2 * time.Second
	DefaultRefresh        = 2 * time.Minute
	DefaultSeenTTL        = 2 * time.Minute
)

func (c *Config) setDefaults() error {
	if c.Params == nil || c.Chain == nil || c.Pool == nil {
		return errors.New("p2p: Params, Chain and Pool are required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(c.Listen) == 0 {
		port := c.Params.P2PPort
		c.Listen = []string{
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port),
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", port),
			fmt.Sprintf("/ip6/::/tcp/%d", port),
			fmt.Sprintf("/ip6/::/udp/%d/quic-v1", port),
		}
	}
	for _, s := range c.Listen {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("p2p listen address %q is not a multiaddr (for example /ip4/0.0.0.0/tcp/%d): %w", s, c.Params.P2PPort, err)
		}
	}
	if c.Bootstrap == nil {
		c.Bootstrap = c.Params.Bootstrap
	}
	if c.ConnLow <= 0 {
		c.ConnLow = DefaultConnLow
	}
	if c.ConnHigh <= c.ConnLow {
		c.ConnHigh = max(DefaultConnHigh, 2*c.ConnLow)
	}
	if c.TargetPeers <= 0 {
		c.TargetPeers = DefaultTargetPeers
	}
	if c.BanDuration == 0 {
		c.BanDuration = DefaultBanDuration
	}
	if c.BanDuration < MinBanDuration {
		return fmt.Errorf("p2p: ban duration %s is below the minimum %s", c.BanDuration, MinBanDuration)
	}
	if c.DiscoveryInterval <= 0 {
		c.DiscoveryInterval = DefaultDiscovery
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.OutboundRefresh <= 0 {
		c.OutboundRefresh = DefaultRefresh
	}
	if c.PeerSaveDelay <= 0 {
		c.PeerSaveDelay = DefaultPeerSaveDelay
	}
	if c.SeenTTL <= 0 {
		c.SeenTTL = DefaultSeenTTL
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return nil
}
