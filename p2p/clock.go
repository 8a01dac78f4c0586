package p2p

import (
	"context"
	"sync"
	"time"
)

// Clock is where p2p reads the time and schedules its timeouts, so that
// stall, timeout and ban tests can run on a fake clock. Stream deadlines
// of the transport are the only wall-clock reads left (they belong to the
// kernel and libp2p, not to us).
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it and
	// reports whether it did so before f ran.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the wall clock shifted by Offset (a node whose clock is
// off, in tests).
type SystemClock struct{ Offset time.Duration }

// Now returns the wall-clock time plus Offset.
func (c SystemClock) Now() time.Time { return time.Now().Add(c.Offset) }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// withTimeout is context.WithTimeout on a Clock.
func withTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := c.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// sleep waits d on c; it reports false when ctx ended first.
func sleep(ctx context.Context, c Clock, d time.Duration) bool {
	done := make(chan struct{})
	stop := c.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-ctx.Done():
		stop()
		return false
	}
}

// ticker sends on C every d of c's time until stopped; a tick nobody takes
// is dropped, as with time.Ticker.
type ticker struct {
	C chan time.Time
	c Clock
	d time.Duration

	mu      sync.Mutex
	stop    func() bool
	stopped bool
}

func newTicker(c Clock, d time.Duration) *ticker {
	t := &ticker{C: make(chan time.Time, 1), c: c, d: d}
	t.arm()
	return t
}

func (t *ticker) arm() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stop = t.c.AfterFunc(t.d, t.fire)
	}
}

func (t *ticker) fire() {
	t.arm()
	select {
	case t.C <- t.c.Now():
	default:
	}
}

// Stop stops the ticker.
func (t *ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	if t.stop != nil {
		t.stop()
	}
}
