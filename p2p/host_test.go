package p2p

import (
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

func TestTCPFirstRanker(t *testing.T) {
	tcp4 := ma.StringCast("/ip4/203.0.113.7/tcp/8646")
	tcp6 := ma.StringCast("/ip6/2001:db8::7/tcp/8646")
	quic4 := ma.StringCast("/ip4/203.0.113.7/udp/8646/quic-v1")
	quic6 := ma.StringCast("/ip6/2001:db8::7/udp/8646/quic-v1")

	ranked := tcpFirstRanker([]ma.Multiaddr{quic4, tcp4, quic6, tcp6})
	if len(ranked) != 4 {
		t.Fatalf("ranked %d addresses, want 4", len(ranked))
	}
	tcpMin, quicMin := time.Hour, time.Hour
	for _, d := range ranked {
		if _, err := d.Addr.ValueForProtocol(ma.P_TCP); err == nil {
			tcpMin = min(tcpMin, d.Delay)
		} else {
			quicMin = min(quicMin, d.Delay)
		}
	}
	if tcpMin != 0 || quicMin < quicFallbackDelay {
		t.Fatalf("TCP dialed from %v, QUIC from %v: want TCP at once and QUIC from %v", tcpMin, quicMin, quicFallbackDelay)
	}

	// A peer with only QUIC addresses is dialed on them without delay.
	for _, d := range tcpFirstRanker([]ma.Multiaddr{quic4}) {
		if d.Delay != 0 {
			t.Fatalf("QUIC-only peer dialed after %v", d.Delay)
		}
	}
}
