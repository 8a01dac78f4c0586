package chain

import (
	"context"
	"sync"
	"time"
)

// eventQueue delivers chain events to subscribers in commit order. The
// writer takes a ticket for each change under the process mutex (so the
// tickets follow commit order) and delivers after releasing it, waiting
// for the earlier tickets: block validation goes on in parallel with the
// delivery of the previous change, and no subscriber ever sees a later
// change before an earlier one.
type eventQueue struct {
	mu      sync.Mutex
	turn    *sync.Cond
	next    uint64 // the next ticket to hand out; guarded by the process mutex
	serving uint64 // the ticket whose events go out now; guarded by mu
	subs    []func([]Event)
}

func (q *eventQueue) init() { q.turn = sync.NewCond(&q.mu) }

func (q *eventQueue) subscribe(fn func([]Event)) {
	q.mu.Lock()
	q.subs = append(q.subs, fn)
	q.mu.Unlock()
}

// ticket returns the next ticket; the caller holds the process mutex and
// must call deliver with it.
func (q *eventQueue) ticket() uint64 {
	t := q.next
	q.next++
	return t
}

// deliver waits for ticket's turn and calls every subscriber with events.
// An empty events slice took no ticket and delivers nothing.
func (q *eventQueue) deliver(ticket uint64, events []Event) {
	if len(events) == 0 {
		return
	}
	q.mu.Lock()
	for q.serving != ticket {
		q.turn.Wait()
	}
	subs := append([]func([]Event){}, q.subs...)
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.serving++
		q.turn.Broadcast()
		q.mu.Unlock()
	}()
	for _, fn := range subs {
		fn(events)
	}
}

// failure records the storage failure that stopped the chain.
type failure struct {
	mu   sync.Mutex
	err  error
	done chan struct{}
}

func (f *failure) init() { f.done = make(chan struct{}) }

func (f *failure) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
		close(f.done)
	}
}

func (f *failure) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// fail records a storage failure: the in-memory state may no longer match
// the disk, so the chain refuses further work until restarted, and
// Failed's channel closes so that the node stops. Nothing is marked
// invalid because of it.
func (c *Chain) fail(err error) error {
	c.failure.set(err)
	return err
}

// Failed returns a channel that is closed when a storage failure stops the
// chain (from any path: block processing, a flush, recovery). The node
// stops on it; Err says what failed.
func (c *Chain) Failed() <-chan struct{} { return c.failure.done }

// Err returns the storage failure that stopped the chain, or nil.
func (c *Chain) Err() error { return c.failure.get() }

// Run is the chain's long-lived service: it writes the UTXO cache to disk
// every Config.FlushInterval, so that a crash replays at most that much,
// until ctx ends (then it returns nil; Close does the final flush). It
// returns the storage failure as soon as the chain stops on one, from
// whatever path, so that the node's errgroup shuts down and the process
// exits non-zero.
func (c *Chain) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Failed():
			return c.Err()
		case <-t.C:
			if err := c.Flush(); err != nil {
				return err
			}
		}
	}
}
