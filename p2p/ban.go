package p2p

import (
	"math"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Misbehaviour points (docs/p2p.md, "Ban policy"). A peer reaching
// BanThreshold points is disconnected and banned. Points halve every
// pointsHalfLife, so rare honest mistakes (a header race) never add up.
const (
	BanThreshold = 100

	penaltyInvalidGossip = 25  // a gossiped block or tx our validator rejected
	penaltyOversize      = 50  // a gossip message above the consensus size limit
	penaltyFlood         = 10  // an RPC over the per-peer message rate
	penaltyGarbage       = 50  // bytes that break the sync protocol
	penaltyBadHeaders    = 100 // headers failing PoW, linkage or difficulty
	penaltyLowWork       = 50  // a long header chain with no more work than ours
	penaltyLowWorkShort  = 10  // a short one (a race is possible)
	penaltyBadBody       = 50  // a block body that does not match its header
	penaltyUnrequested   = 25  // a block we did not ask for
	penaltyBadStatus     = 100 // a status for another genesis

	pointsHalfLife = 10 * time.Minute
)

// maxBans bounds the ban list (and peers.json): when it is full, the ban
// that would expire first is lifted early. Bans are by peer id, never by
// IP address, so honest peers behind the same address (or on the same
// machine) are never cut off with a bad one.
const maxBans = 1024

// MinBanDuration is the shortest ban the node accepts (SPEC section 5:
// "refused for at least 10 minutes").
const MinBanDuration = 10 * time.Minute

// BanInfo describes a banned peer.
type BanInfo struct {
	ID     string    `json:"id"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

type points struct {
	value   float64
	updated time.Time
}

// banList keeps misbehaviour points and bans. Safe for concurrent use; it
// never calls out while holding its lock, so pubsub may call score and
// Contains from its event loop.
type banList struct {
	mu     sync.Mutex
	now    func() time.Time
	dur    time.Duration
	max    int
	points map[peer.ID]*points
	bans   map[peer.ID]BanInfo
}

func newBanList(dur time.Duration, now func() time.Time) *banList {
	return &banList{now: now, dur: dur, max: maxBans, points: make(map[peer.ID]*points), bans: make(map[peer.ID]BanInfo)}
}

// setLocked records a ban, lifting the one that expires first when the
// list is full.
func (b *banList) setLocked(p peer.ID, info BanInfo) {
	if _, ok := b.bans[p]; !ok && len(b.bans) >= b.max {
		now := b.now()
		for id := range b.bans {
			b.activeLocked(id, now) // drop the expired
		}
		for len(b.bans) >= b.max {
			var first peer.ID
			var until time.Time
			for id, bi := range b.bans {
				if first == "" || bi.Until.Before(until) || (bi.Until.Equal(until) && id < first) {
					first, until = id, bi.Until
				}
			}
			delete(b.bans, first)
		}
	}
	b.bans[p] = info
}

func (b *banList) decayed(p *points, now time.Time) float64 {
	dt := now.Sub(p.updated)
	if dt <= 0 {
		return p.value
	}
	return p.value * math.Exp2(-float64(dt)/float64(pointsHalfLife))
}

// add adds pts to p's points and bans p when they reach BanThreshold. It
// reports whether this call banned p.
func (b *banList) add(p peer.ID, pts float64, reason string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if _, banned := b.activeLocked(p, now); banned {
		return false
	}
	e := b.points[p]
	if e == nil {
		if len(b.points) >= 4*b.max {
			b.prunePointsLocked(now)
		}
		e = &points{}
		b.points[p] = e
	}
	e.value = b.decayed(e, now) + pts
	e.updated = now
	// Decay shaves fractions off between calls; reaching the threshold
	// to within half a point counts.
	if e.value < BanThreshold-0.5 {
		return false
	}
	delete(b.points, p)
	b.setLocked(p, BanInfo{ID: p.String(), Until: now.Add(b.dur), Reason: reason})
	return true
}

// prunePointsLocked forgets the peers whose points have decayed below
// one, and if that is not enough, the smallest half.
func (b *banList) prunePointsLocked(now time.Time) {
	for id, e := range b.points {
		if b.decayed(e, now) < 1 {
			delete(b.points, id)
		}
	}
	if len(b.points) < 4*b.max {
		return
	}
	vals := make([]float64, 0, len(b.points))
	for _, e := range b.points {
		vals = append(vals, b.decayed(e, now))
	}
	sort.Float64s(vals)
	median := vals[len(vals)/2]
	for id, e := range b.points {
		if b.decayed(e, now) <= median {
			delete(b.points, id)
		}
	}
}

// ban bans p at once.
func (b *banList) ban(p peer.ID, reason string) bool {
	return b.add(p, math.Inf(1), reason)
}

// restore adds a ban loaded from the peer store.
func (b *banList) restore(p peer.ID, info BanInfo) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if info.Until.After(b.now()) {
		b.setLocked(p, info)
	}
}

func (b *banList) activeLocked(p peer.ID, now time.Time) (BanInfo, bool) {
	info, ok := b.bans[p]
	if !ok {
		return info, false
	}
	if !now.Before(info.Until) {
		delete(b.bans, p)
		return info, false
	}
	return info, true
}

// banned reports whether p is banned now.
func (b *banList) banned(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.activeLocked(p, b.now())
	return ok
}

// score returns p's current misbehaviour points.
func (b *banList) score(p peer.ID) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.points[p]
	if e == nil {
		return 0
	}
	return b.decayed(e, b.now())
}

// list returns the active bans, soonest expiry first.
func (b *banList) list() []BanInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	out := make([]BanInfo, 0, len(b.bans))
	for p := range b.bans {
		if info, ok := b.activeLocked(p, now); ok {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Until.Before(out[j].Until) })
	return out
}

// pubsubBlacklist adapts the ban list to pubsub.Blacklist: pubsub drops
// every message from a banned peer. Peers are banned through the node,
// never through pubsub's Add.
type pubsubBlacklist struct{ b *banList }

func (l pubsubBlacklist) Add(peer.ID) bool        { return false }
func (l pubsubBlacklist) Contains(p peer.ID) bool { return l.b.banned(p) }

// gater is the connection gater: it refuses banned peers in both
// directions and, when addrOK is set (tests: loopback only), every address
// it does not allow.
type gater struct {
	bans   *banList
	addrOK func(ma.Multiaddr) bool
	// block, if set, refuses further peers (tests: network partitions).
	block atomic.Pointer[func(peer.ID) bool]
}

// setBlock sets (nil: clears) an extra refusal rule.
func (g *gater) setBlock(f func(peer.ID) bool) {
	if f == nil {
		g.block.Store(nil)
		return
	}
	g.block.Store(&f)
}

func (g *gater) refused(p peer.ID) bool {
	if g.bans.banned(p) {
		return true
	}
	f := g.block.Load()
	return f != nil && (*f)(p)
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return !g.refused(p) }

func (g *gater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return !g.refused(p) && (g.addrOK == nil || g.addrOK(a))
}

func (g *gater) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	return g.addrOK == nil || g.addrOK(addrs.RemoteMultiaddr())
}

func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.refused(p)
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// isLoopback reports whether a multiaddr's IP is a loopback address.
func isLoopback(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	return err == nil && ip.IsLoopback()
}

// filterAddrs keeps the addresses ok allows (all when ok is nil).
func filterAddrs(addrs []ma.Multiaddr, ok func(ma.Multiaddr) bool) []ma.Multiaddr {
	if ok == nil {
		return addrs
	}
	out := make([]ma.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if ok(a) {
			out = append(out, a)
		}
	}
	return out
}

// loopbackNets are exempt from gossipsub's IP colocation penalty: peers on
// the same machine are the operator's own.
var loopbackNets = func() []*net.IPNet {
	var out []*net.IPNet
	for _, s := range []string{"127.0.0.0/8", "::1/128"} {
		_, n, _ := net.ParseCIDR(s)
		out = append(out, n)
	}
	return out
}()
