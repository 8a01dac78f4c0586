package p2p

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told (Advance).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_900_000_000, 0), timers: make(map[int]*fakeTimer)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := c.seq
	c.timers[id] = &fakeTimer{at: c.now.Add(d), f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[id]
		delete(c.timers, id)
		return ok
	}
}

// Advance moves the clock by d and runs the timers that came due, in
// time order, each in its own goroutine as time.AfterFunc does.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for id, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
			delete(c.timers, id)
		}
	}
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		go t.f()
	}
}

// shiftClock is the wall clock plus an offset that a test can move (a
// node whose clock is behind and then catches up).
type shiftClock struct{ off atomic.Int64 }

func newShiftClock(d time.Duration) *shiftClock {
	c := &shiftClock{}
	c.off.Store(int64(d))
	return c
}

func (c *shiftClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *shiftClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

func (c *shiftClock) shift(d time.Duration) { c.off.Add(int64(d)) }

// TestClockTimeouts: timeouts and tickers follow the configured clock,
// not the wall clock.
func TestClockTimeouts(t *testing.T) {
	c := newFakeClock()
	ctx, cancel := withTimeout(context.Background(), c, 10*time.Second)
	defer cancel()
	c.Advance(9 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatal("timed out before its time")
	}
	c.Advance(time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout after the fake clock passed it")
	}
	if context.Cause(ctx) != context.DeadlineExceeded {
		t.Errorf("cause %v", context.Cause(ctx))
	}

	tk := newTicker(c, time.Second)
	defer tk.Stop()
	for i := 0; i < 3; i++ {
		c.Advance(time.Second)
		select {
		case <-tk.C:
		case <-time.After(5 * time.Second):
			t.Fatalf("tick %d missing", i)
		}
	}
	done := make(chan bool)
	go func() { done <- sleep(context.Background(), c, time.Minute) }()
	time.Sleep(20 * time.Millisecond)
	c.Advance(time.Minute)
	if !<-done {
		t.Error("sleep ended early")
	}
}
