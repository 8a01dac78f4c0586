package p2p

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Status exchange bounds (docs/p2p.md, "Status").
const (
	// statusWorkers is the fixed number of goroutines that ask peers for
	// their status, whatever the number of peers.
	statusWorkers = 4
	// statusQueue bounds the peers waiting for a status request; a peer
	// that finds it full is asked at its next turn of the status loop.
	statusQueue = 1024
)

// statusExchanger asks peers for their chain status with a fixed pool of
// workers: one request in flight per peer, and peers that answered
// before are served ahead of peers that never did, so silent identities
// cannot starve the status checks that heal partitions.
type statusExchanger struct {
	n     *Node
	known chan peer.ID // peers that answered a status before
	fresh chan peer.ID // the others
}

func newStatusExchanger(n *Node) *statusExchanger {
	return &statusExchanger{n: n, known: make(chan peer.ID, statusQueue), fresh: make(chan peer.ID, statusQueue)}
}

// start launches the workers (Run joins them). The first serves only
// peers that answered before, so a crowd of silent new identities can
// hold the others for a timeout each but never that one.
func (x *statusExchanger) start(ctx context.Context) {
	for i := range statusWorkers {
		x.n.goFunc(func() { x.work(ctx, i == 0) })
	}
}

// ask queues a status request to p unless one is queued or in flight.
// The peer's status time is set now, before it waits for a worker, so the
// status loop does not queue it again meanwhile.
func (x *statusExchanger) ask(p peer.ID) {
	n := x.n
	n.mu.Lock()
	ps := n.peers[p]
	if ps == nil || ps.statusPending {
		n.mu.Unlock()
		return
	}
	ps.statusPending, ps.statusAt = true, n.clock.Now()
	q := x.fresh
	if ps.speaks {
		q = x.known
	}
	n.mu.Unlock()
	select {
	case q <- p:
	default:
		x.done(p, false)
	}
}

// done clears p's pending flag and counts a failure.
func (x *statusExchanger) done(p peer.ID, answered bool) {
	n := x.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if ps := n.peers[p]; ps != nil {
		ps.statusPending = false
		if answered {
			ps.statusFails = 0
		} else {
			ps.statusFails++
		}
	}
}

func (x *statusExchanger) next(ctx context.Context, knownOnly bool) (peer.ID, bool) {
	select {
	case p := <-x.known:
		return p, true
	default:
	}
	if knownOnly {
		select {
		case p := <-x.known:
			return p, true
		case <-ctx.Done():
			return "", false
		}
	}
	select {
	case p := <-x.known:
		return p, true
	case p := <-x.fresh:
		return p, true
	case <-ctx.Done():
		return "", false
	}
}

func (x *statusExchanger) work(ctx context.Context, knownOnly bool) {
	for {
		p, ok := x.next(ctx, knownOnly)
		if !ok {
			return
		}
		x.done(p, x.n.exchangeStatus(ctx, p))
	}
}
