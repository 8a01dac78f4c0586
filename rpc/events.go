package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"tally/chain"
	"tally/mempool"
	"tally/wire"
)

// Event types of the /events stream (SPEC section 7).
const (
	EventBlock   = "block"   // a block joined the best chain
	EventUnblock = "unblock" // a block left the best chain (reorganization)
	EventTx      = "tx"      // a transaction entered the pool
	EventTxGone  = "txgone"  // a transaction left the pool
	EventReset   = "reset"   // the asked-for events are no longer held
)

// Defaults of the event hub and the /events handler.
const (
	// DefaultEventBuffer is how many events the hub holds for clients
	// that resume (SPEC: at least the last 10,000).
	DefaultEventBuffer = 20_000
	// DefaultEventClients bounds the streams open at once.
	DefaultEventClients = 1000
	// DefaultEventWriteTimeout cuts off a client that does not take a
	// write within this time.
	DefaultEventWriteTimeout = 10 * time.Second
	// DefaultEventHeartbeat is how often an idle stream gets a comment
	// line, so proxies keep it open and dead clients are found.
	DefaultEventHeartbeat = 15 * time.Second
	// eventBatch is the most events written between two flushes.
	eventBatch = 256
)

// Errors of Subscription.Next.
var (
	// ErrTooSlow: the subscriber fell so far behind that the events it
	// had not read are no longer held; it is cut off (it may resume and
	// will get a reset).
	ErrTooSlow = errors.New("events: subscriber fell behind the buffer")
	// ErrHubClosed: the node is stopping.
	ErrHubClosed = errors.New("events: hub closed")
	// ErrTooManyClients: Subscribe refused a subscriber over the bound.
	ErrTooManyClients = errors.New("events: too many subscribers")
)

// Event is one numbered event of the stream.
type Event struct {
	ID   uint64
	Type string
	// Data is the event's JSON object.
	Data json.RawMessage
}

// Event payloads, the data: lines of SPEC section 7.
type (
	blockEvent struct {
		Hash   string `json:"hash"`
		Height uint64 `json:"height"`
		Prev   string `json:"prev"`
		Time   uint64 `json:"time"`
		Txs    int    `json:"txs"` // number of transactions, coinbase included
	}
	unblockEvent struct {
		Hash   string `json:"hash"`
		Height uint64 `json:"height"`
	}
	txEvent struct {
		TxID string `json:"txid"`
		Fee  uint64 `json:"fee"`
		Size int    `json:"size"`
	}
	txGoneEvent struct {
		TxID   string `json:"txid"`
		Reason string `json:"reason"`
	}
	// resetEvent names the current tip and the last event id, from which
	// the stream goes on.
	resetEvent struct {
		Hash   string `json:"hash"`
		Height uint64 `json:"height"`
		Last   uint64 `json:"last"`
	}
)

// EventHub numbers what happens to the chain and the pool, in the order
// it happens, and keeps the last events in a ring buffer for subscribers
// that resume. Publishing never waits for a subscriber: each subscriber
// reads the ring at its own pace, and one that falls behind the ring is
// cut off, so memory is bounded by the ring whatever the clients do.
// Feed it with HandleChainEvents (subscribed to the chain before the
// pool, so that a block comes before the txgone "mined" of its
// transactions) and PoolChanged (mempool.Config.OnChange). Safe for
// concurrent use.
type EventHub struct {
	mu      sync.Mutex
	ring    []Event
	next    uint64 // id of the next event; the first is 1
	wake    chan struct{}
	closed  bool
	subs    int
	maxSubs int
	tipHash wire.Hash
	tipH    uint64
}

// NewEventHub returns a hub holding the last size events (0:
// DefaultEventBuffer) for at most maxSubs subscribers at once (0:
// DefaultEventClients), starting at the given tip.
func NewEventHub(size, maxSubs int, tip wire.Hash, height uint64) *EventHub {
	if size <= 0 {
		size = DefaultEventBuffer
	}
	if maxSubs <= 0 {
		maxSubs = DefaultEventClients
	}
	return &EventHub{ring: make([]Event, size), next: 1, wake: make(chan struct{}), maxSubs: maxSubs, tipHash: tip, tipH: height}
}

// oldest returns the id of the oldest event held (next if none). The
// caller holds h.mu.
func (h *EventHub) oldest() uint64 {
	if n := uint64(len(h.ring)); h.next > n {
		return h.next - n
	}
	return 1
}

func (h *EventHub) publishLocked(typ string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		panic("rpc: encoding an event: " + err.Error()) // fixed shapes of strings and numbers
	}
	h.ring[h.next%uint64(len(h.ring))] = Event{ID: h.next, Type: typ, Data: data}
	h.next++
}

// signalLocked wakes every waiting subscriber.
func (h *EventHub) signalLocked() {
	close(h.wake)
	h.wake = make(chan struct{})
}

// HandleChainEvents publishes block and unblock events; subscribe it with
// chain.Subscribe.
func (h *EventHub) HandleChainEvents(events []chain.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range events {
		switch ev.Kind {
		case chain.BlockConnected:
			h.publishLocked(EventBlock, blockEvent{Hash: ev.ID.String(), Height: ev.Height,
				Prev: ev.Block.Header.PrevBlock.String(), Time: ev.Block.Header.Time, Txs: len(ev.Block.Txs)})
			h.tipHash, h.tipH = ev.ID, ev.Height
		case chain.BlockDisconnected:
			h.publishLocked(EventUnblock, unblockEvent{Hash: ev.ID.String(), Height: ev.Height})
			h.tipHash, h.tipH = ev.Block.Header.PrevBlock, ev.Height-1
		}
	}
	h.signalLocked()
}

// txGoneReason is the SPEC's word for why a transaction left the pool.
func txGoneReason(r mempool.RemoveReason) string {
	switch r {
	case mempool.RemovedConflicted, mempool.RemovedInvalid:
		return "conflict"
	}
	return string(r) // mined, replaced, evicted, expired, reorg
}

// PoolChanged publishes tx and txgone events; it is a
// mempool.Config.OnChange hook.
func (h *EventHub) PoolChanged(e *mempool.Entry, removed mempool.RemoveReason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if removed == "" {
		h.publishLocked(EventTx, txEvent{TxID: e.TxID.String(), Fee: e.Fee, Size: e.Size})
	} else {
		h.publishLocked(EventTxGone, txGoneEvent{TxID: e.TxID.String(), Reason: txGoneReason(removed)})
	}
	h.signalLocked()
}

// LastID returns the id of the last event published (0 before the first).
func (h *EventHub) LastID() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next - 1
}

// Subscribers returns how many subscriptions are open.
func (h *EventHub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.subs
}

// Close ends every subscription (the node is stopping).
func (h *EventHub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		h.signalLocked()
	}
}

// Subscription is one reader of the hub. Not safe for concurrent use;
// call Close when done.
type Subscription struct {
	h      *EventHub
	cursor uint64 // id of the next event to read
	types  map[string]bool
	reset  *Event
	closed bool
}

// Subscribe starts a subscription. With resume false it gets the events
// published from now on. With resume true it gets every event after
// since that the hub still holds, then the live ones; if some of them
// are no longer held (or since is ahead of the hub, as after a restart
// of the node) its first event is a reset naming the current tip, and
// it goes on live from there. types, if not empty, selects the event
// types delivered (a reset is always delivered). It fails with
// ErrTooManyClients or ErrHubClosed.
func (h *EventHub) Subscribe(since uint64, resume bool, types []string) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	if h.subs >= h.maxSubs {
		return nil, ErrTooManyClients
	}
	h.subs++
	s := &Subscription{h: h, cursor: h.next}
	if len(types) > 0 {
		s.types = make(map[string]bool, len(types))
		for _, t := range types {
			s.types[t] = true
		}
	}
	if resume {
		if since+1 >= h.oldest() && since < h.next {
			s.cursor = since + 1
		} else {
			data, _ := json.Marshal(resetEvent{Hash: h.tipHash.String(), Height: h.tipH, Last: h.next - 1})
			s.reset = &Event{ID: h.next - 1, Type: EventReset, Data: data}
		}
	}
	return s, nil
}

// Close ends the subscription.
func (s *Subscription) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.h.mu.Lock()
	s.h.subs--
	s.h.mu.Unlock()
}

// Next returns the next events (at most eventBatch, in order), waiting
// until there is one or ctx ends. Its errors are ErrTooSlow,
// ErrHubClosed and ctx's.
func (s *Subscription) Next(ctx context.Context) ([]Event, error) {
	if s.reset != nil {
		ev := *s.reset
		s.reset = nil
		return []Event{ev}, nil
	}
	h := s.h
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrHubClosed
		}
		if s.cursor < h.oldest() {
			h.mu.Unlock()
			return nil, ErrTooSlow
		}
		var out []Event
		for ; s.cursor < h.next && len(out) < eventBatch; s.cursor++ {
			ev := h.ring[s.cursor%uint64(len(h.ring))]
			if s.types == nil || s.types[ev.Type] {
				out = append(out, ev)
			}
		}
		wake := h.wake
		h.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// appendEvent appends ev as one SSE message.
func appendEvent(b []byte, ev Event) []byte {
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.ID, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Type...)
	b = append(b, "\ndata: "...)
	b = append(b, ev.Data...)
	return append(b, "\n\n"...)
}

// eventTypes are the types ?types= may select.
var eventTypes = map[string]bool{EventBlock: true, EventUnblock: true, EventTx: true, EventTxGone: true}

// EventsHandler serves hub as a Server-Sent Events stream (GET /events):
// ?types=a,b filters, Last-Event-ID or ?since=N resumes. A client that
// does not take a write within writeTimeout, or falls behind the hub's
// buffer, is cut off. The stream ends when done is closed (the server
// stops). The explorer serves the same handler.
func EventsHandler(hub *EventHub, writeTimeout, heartbeat time.Duration, done <-chan struct{}) http.Handler {
	if writeTimeout <= 0 {
		writeTimeout = DefaultEventWriteTimeout
	}
	if heartbeat <= 0 {
		heartbeat = DefaultEventHeartbeat
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "/events: use GET", http.StatusMethodNotAllowed)
			return
		}
		var types []string
		if q := r.URL.Query().Get("types"); q != "" {
			for _, t := range strings.Split(q, ",") {
				if !eventTypes[t] {
					http.Error(w, "/events: unknown type "+strconv.Quote(t)+" in ?types= (block, unblock, tx, txgone)", http.StatusBadRequest)
					return
				}
				types = append(types, t)
			}
		}
		since, resume := uint64(0), false
		if v := r.Header.Get("Last-Event-ID"); v != "" || r.URL.Query().Has("since") {
			if v == "" {
				v = r.URL.Query().Get("since")
			}
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				http.Error(w, "/events: the event id to resume after must be a number, got "+strconv.Quote(v), http.StatusBadRequest)
				return
			}
			since, resume = n, true
		}
		sub, err := hub.Subscribe(since, resume, types)
		if err != nil {
			w.Header().Set("Retry-After", "10")
			http.Error(w, "/events: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer sub.Close()

		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-done:
				cancel()
			case <-ctx.Done():
			}
		}()
		rc := http.NewResponseController(w)
		// The stream outlives the server's request timeouts; each write
		// gets its own deadline instead.
		_ = rc.SetReadDeadline(time.Time{})
		hdr := w.Header()
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		write := func(b []byte) bool {
			_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := w.Write(b); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if !write([]byte("retry: 3000\n\n")) {
			return
		}
		buf := make([]byte, 0, 4096)
		for {
			wait, stop := context.WithTimeout(ctx, heartbeat)
			evs, err := sub.Next(wait)
			stop()
			switch {
			case err == nil:
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				if !write([]byte(": keepalive\n\n")) {
					return
				}
				continue
			default: // too slow, hub closed, client gone or server stopping
				return
			}
			buf = buf[:0]
			for _, ev := range evs {
				buf = appendEvent(buf, ev)
			}
			if !write(buf) {
				return
			}
		}
	})
}
