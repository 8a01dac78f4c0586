package p2p

import (
	"context"
	"runtime"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Validation fairness bounds (docs/p2p.md, "Gossip").
const (
	// maxWaitingPerPeer bounds one peer's messages waiting for a
	// validation slot; beyond it the peer's further messages are ignored
	// (not forwarded, no penalty) until its backlog drains.
	maxWaitingPerPeer = 2048
)

// fairness hands out a fixed number of validation slots (the number of
// CPUs) round-robin between peers, blocks before transactions: a peer
// flooding valid-looking transactions delays its own messages, not other
// peers', and never a block.
type fairness struct {
	mu    sync.Mutex
	free  int
	class [2]*rrQueue // 0: blocks, 1: transactions
}

// rrQueue is a round-robin queue of waiting tickets per peer.
type rrQueue struct {
	order []peer.ID
	next  int
	q     map[peer.ID][]chan struct{}
}

func newFairness() *fairness {
	f := &fairness{free: max(2, runtime.NumCPU())}
	for i := range f.class {
		f.class[i] = &rrQueue{q: make(map[peer.ID][]chan struct{})}
	}
	return f
}

const (
	classBlock = 0
	classTx    = 1
)

// acquire waits for a validation slot for one message of p. It returns
// false, without a slot, when p already has maxWaitingPerPeer messages
// waiting or ctx ended.
func (f *fairness) acquire(ctx context.Context, p peer.ID, class int) bool {
	f.mu.Lock()
	if f.free > 0 && f.class[classBlock].empty() && (class == classBlock || f.class[classTx].empty()) {
		f.free--
		f.mu.Unlock()
		return true
	}
	rq := f.class[class]
	if len(rq.q[p]) >= maxWaitingPerPeer {
		f.mu.Unlock()
		return false
	}
	t := make(chan struct{})
	rq.push(p, t)
	f.mu.Unlock()
	select {
	case <-t:
		return true
	case <-ctx.Done():
		f.mu.Lock()
		removed := rq.remove(p, t)
		f.mu.Unlock()
		if !removed {
			// Granted meanwhile: pass the slot on.
			f.release()
		}
		return false
	}
}

// release returns a slot: the next waiting block gets it, else the next
// transaction of the next peer in turn.
func (f *fairness) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rq := range f.class {
		if t := rq.pop(); t != nil {
			close(t)
			return
		}
	}
	f.free++
}

func (rq *rrQueue) empty() bool { return len(rq.q) == 0 }

func (rq *rrQueue) push(p peer.ID, t chan struct{}) {
	if _, ok := rq.q[p]; !ok {
		rq.order = append(rq.order, p)
	}
	rq.q[p] = append(rq.q[p], t)
}

// pop takes the first ticket of the next peer in turn.
func (rq *rrQueue) pop() chan struct{} {
	if len(rq.order) == 0 {
		return nil
	}
	if rq.next >= len(rq.order) {
		rq.next = 0
	}
	p := rq.order[rq.next]
	ts := rq.q[p]
	t := ts[0]
	if len(ts) == 1 {
		delete(rq.q, p)
		rq.order = append(rq.order[:rq.next], rq.order[rq.next+1:]...)
	} else {
		rq.q[p] = ts[1:]
		rq.next++
	}
	return t
}

// remove takes t out of p's queue; false if it is no longer there.
func (rq *rrQueue) remove(p peer.ID, t chan struct{}) bool {
	ts := rq.q[p]
	for i, x := range ts {
		if x != t {
			continue
		}
		ts = append(ts[:i], ts[i+1:]...)
		if len(ts) > 0 {
			rq.q[p] = ts
			return true
		}
		delete(rq.q, p)
		for j, id := range rq.order {
			if id == p {
				rq.order = append(rq.order[:j], rq.order[j+1:]...)
				if rq.next > j {
					rq.next--
				}
				break
			}
		}
		return true
	}
	return false
}
