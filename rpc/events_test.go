package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"tally/chain"
	"tally/internal/testgen"
	"tally/wire"
)

// sseEvent is one message read from a stream.
type sseEvent struct {
	ID   uint64
	Type string
	Data map[string]any
}

// sseClient reads an /events stream over HTTP.
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
	done   chan struct{}
}

// openEvents connects to url (path and query included) with the
// cookie credentials unless public, and Last-Event-ID if lastID >= 0.
func (f *fixture) openEvents(url string, public bool, lastID int64) *sseClient {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if !public {
		req.SetBasicAuth("alice", "correct horse")
	}
	if lastID >= 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		f.t.Fatalf("GET %s: %s %q", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{t: f.t, resp: resp, events: make(chan sseEvent, 1000), done: make(chan struct{})}
	go c.read()
	f.t.Cleanup(c.close)
	return c
}

func (c *sseClient) read() {
	defer close(c.done)
	sc := bufio.NewScanner(c.resp.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Type != "" {
				c.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.ID, _ = strconv.ParseUint(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			ev.Type = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
				c.t.Errorf("data %q: %v", line, err)
			}
		}
	}
}

func (c *sseClient) close() {
	c.resp.Body.Close()
	<-c.done
}

// next returns the next event or fails after 10 s.
func (c *sseClient) next() sseEvent {
	c.t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(10 * time.Second):
		c.t.Fatal("no event within 10 s")
	}
	panic("unreachable")
}

// take returns the next n events.
func (c *sseClient) take(n int) []sseEvent {
	c.t.Helper()
	out := make([]sseEvent, n)
	for i := range out {
		out[i] = c.next()
	}
	return out
}

// quiet fails if an event arrives within d.
func (c *sseClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case ev := <-c.events:
		c.t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

func consecutive(t *testing.T, evs []sseEvent, first uint64) {
	t.Helper()
	for i, ev := range evs {
		if ev.ID != first+uint64(i) {
			t.Fatalf("event %d has id %d, want %d (%+v)", i, ev.ID, first+uint64(i), evs)
		}
	}
}

func (f *fixture) eventsURL(public bool, query string) string {
	addr := f.srv.Addr()
	if public {
		addr = f.srv.PublicAddr()
	}
	return "http://" + addr + "/events" + query
}

// TestEventsOrder: a transaction entering the pool, then a block mining
// it and another pool transaction, arrive in order with consecutive ids,
// on both listeners, with the shapes of SPEC section 7.
func TestEventsOrder(t *testing.T) {
	f := newFixture(t)
	priv := f.openEvents(f.eventsURL(false, ""), false, -1)
	pub := f.openEvents(f.eventsURL(true, ""), true, -1)
	first := f.hub.LastID() + 1

	tx := f.pay(1500)
	if _, err := f.pool.Accept(tx, ""); err != nil {
		t.Fatal(err)
	}
	ids, err := f.miner.Generate(context.Background(), 1, f.g.PKH)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.c.Block(ids[0])
	// The block mines the three fixture pool transactions and tx.
	want := []string{"tx " + tx.TxID().String(), "block " + ids[0].String()}
	for _, mtx := range b.Txs[1:] {
		want = append(want, "txgone "+mtx.TxID().String()+" mined")
	}
	for _, c := range []*sseClient{priv, pub} {
		evs := c.take(len(want))
		consecutive(t, evs, first)
		for i, ev := range evs {
			got := ev.Type + " "
			switch ev.Type {
			case "tx":
				got += ev.Data["txid"].(string)
				if ev.Data["fee"].(float64) != 1500 || int(ev.Data["size"].(float64)) != tx.SerializeSize() {
					t.Fatalf("tx event %v", ev.Data)
				}
			case "block":
				got += ev.Data["hash"].(string)
				if uint64(ev.Data["height"].(float64)) != 21 || ev.Data["prev"] != f.blocks[20].BlockID().String() ||
					uint64(ev.Data["time"].(float64)) != b.Header.Time || int(ev.Data["txs"].(float64)) != len(b.Txs) {
					t.Fatalf("block event %v", ev.Data)
				}
			case "txgone":
				got += ev.Data["txid"].(string) + " " + ev.Data["reason"].(string)
			}
			if got != want[i] {
				t.Fatalf("event %d: %q, want %q", i, got, want[i])
			}
		}
	}
	// Without credentials the private stream is refused.
	resp, err := http.Get(f.eventsURL(false, ""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated private /events: %s", resp.Status)
	}
}

// TestEventsReorg: a heavier branch makes unblock events, tip first,
// then block events from the fork up.
//
//	... 19 -> 20
//	      \-> s20 -> s21   (heavier)
func TestEventsReorg(t *testing.T) {
	f := newFixture(t)
	c := f.openEvents(f.eventsURL(false, "?types=block,unblock"), false, -1)
	fork := testgen.ParentOf(f.blocks[19], 19)
	s20 := f.g.Block(fork, nil)
	s21 := f.g.Block(testgen.ParentOf(s20, 20), nil)
	for _, b := range []*wire.Block{s20, s21} {
		if _, err := f.c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	evs := c.take(3)
	consecutive(t, evs[1:], evs[1].ID) // the unblock's txs re-enter the pool between: filtered out
	got := fmt.Sprintf("%s %v %s, %s %v %s, %s %v %s",
		evs[0].Type, evs[0].Data["height"], evs[0].Data["hash"],
		evs[1].Type, evs[1].Data["height"], evs[1].Data["hash"],
		evs[2].Type, evs[2].Data["height"], evs[2].Data["hash"])
	want := fmt.Sprintf("unblock 20 %s, block 20 %s, block 21 %s", f.blocks[20].BlockID(), s20.BlockID(), s21.BlockID())
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if evs[0].ID >= evs[1].ID {
		t.Fatal("unblock not before block")
	}
}

// TestEventsResume: a client reads, disconnects, misses 50 events, and
// reconnects with Last-Event-ID: it gets exactly those 50, then live
// ones. ?since= does the same.
func TestEventsResume(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(fixtureNow.Add(30 * 24 * time.Hour)) // room for 51 more blocks
	c := f.openEvents(f.eventsURL(false, ""), false, -1)
	f.addBlock()
	last := c.next()
	c.close()
	for i := 0; i < 50; i++ {
		f.addBlock()
	}
	for _, resume := range []struct {
		query string
		hdr   int64
	}{{"", int64(last.ID)}, {"?since=" + strconv.FormatUint(last.ID, 10), -1}} {
		c = f.openEvents(f.eventsURL(false, resume.query), false, resume.hdr)
		missed := c.take(50)
		consecutive(t, missed, last.ID+1)
		for i, ev := range missed {
			if ev.Type != "block" || uint64(ev.Data["height"].(float64)) != uint64(22+i) {
				t.Fatalf("missed event %d: %+v", i, ev)
			}
		}
		c.quiet(100 * time.Millisecond)
		c.close()
	}
	c = f.openEvents(f.eventsURL(false, ""), false, int64(last.ID)+40)
	consecutive(t, c.take(10), last.ID+41)
	f.addBlock()
	if ev := c.next(); ev.ID != last.ID+51 || ev.Type != "block" || uint64(ev.Data["height"].(float64)) != 72 {
		t.Fatalf("live event %+v", ev)
	}
}

// TestEventsReset: an id older than the buffer (or ahead of the hub, as
// after a restart) gets a reset naming the tip, then the live stream.
func TestEventsReset(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.eventBuffer = 10 })
	f.clock.Set(fixtureNow.Add(30 * 24 * time.Hour))
	for i := 0; i < 12; i++ {
		f.addBlock()
	}
	last := f.hub.LastID()
	tip := f.c.Tip()
	for _, since := range []int64{0, int64(last) - 10, int64(last) + 5} {
		c := f.openEvents(f.eventsURL(false, ""), false, since)
		ev := c.next()
		if ev.Type != "reset" || ev.ID != last || ev.Data["hash"] != tip.ID.String() ||
			uint64(ev.Data["height"].(float64)) != tip.Height || uint64(ev.Data["last"].(float64)) != last {
			t.Fatalf("since %d: first event %+v, want a reset at %d", since, ev, last)
		}
		c.quiet(50 * time.Millisecond)
		f.addBlock()
		if ev := c.next(); ev.ID != f.hub.LastID() || ev.Type != "block" {
			t.Fatalf("after reset: %+v", ev)
		}
		last = f.hub.LastID()
		tip = f.c.Tip()
	}
	// The oldest id still held resumes without a reset.
	c := f.openEvents(f.eventsURL(false, ""), false, int64(last)-9)
	consecutive(t, c.take(9), last-8)
}

// TestEventsBadRequests: unknown types and ids that are not numbers are
// refused with a message.
func TestEventsBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{"?types=block,mempool", "?since=abc", "?since=-1"} {
		resp, err := http.Get(f.eventsURL(true, q))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %s", q, resp.Status)
		}
	}
}

// fakeBlockEvents returns n connect events of distinct fake blocks (the
// hub reads only ids, heights and headers).
func fakeBlockEvents(start uint64, n int) []chain.Event {
	out := make([]chain.Event, n)
	for i := range out {
		h := start + uint64(i)
		b := &wire.Block{Header: wire.Header{Time: h}}
		var id wire.Hash
		id[0], id[1], id[2], id[3] = byte(h), byte(h>>8), byte(h>>16), byte(h>>24)
		out[i] = chain.Event{Kind: chain.BlockConnected, Block: b, ID: id, Height: h}
	}
	return out
}

// TestEventsSlowClients: 100 idle clients and 5 that never read do not
// slow publishing down or make memory grow: 100,000 events (about 18 MB
// of stream, more than the kernel buffers of a stalled connection hold)
// take about as long as without them (the buffer holds 20,000), the heap stays small, the stalled
// clients are cut off and the idle ones are still served.
func TestEventsSlowClients(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg = func(c *Config) { c.EventWriteTimeout = 300 * time.Millisecond }
	})
	const n, batch = 100_000, 10
	publish := func(start uint64) time.Duration {
		t0 := time.Now()
		for i := 0; i < n; i += batch {
			f.hub.HandleChainEvents(fakeBlockEvents(start+uint64(i), batch))
			runtime.Gosched() // a real chain spends far longer per block
		}
		return time.Since(t0)
	}
	base := publish(1_000_000)

	idle := make([]*sseClient, 100)
	for i := range idle {
		idle[i] = f.openEvents(f.eventsURL(i%2 == 0, "?types=unblock"), i%2 == 0, -1)
	}
	var stalled []net.Conn
	for i := 0; i < 5; i++ {
		conn, err := net.Dial("tcp", f.srv.PublicAddr())
		if err != nil {
			t.Fatal(err)
		}
		conn.(*net.TCPConn).SetReadBuffer(4096)
		defer conn.Close()
		fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
		stalled = append(stalled, conn)
	}
	waitSubs := func(want int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for f.hub.Subscribers() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d subscribers, want %d", f.hub.Subscribers(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSubs(105)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	with := publish(2_000_000)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("publishing %d events: %v alone, %v with 100 idle and 5 stalled clients; heap %d -> %d KB",
		n, base, with, before.HeapAlloc>>10, after.HeapAlloc>>10)
	if with > 10*base+5*time.Second { // generous: a loaded machine and -race distort both runs
		t.Fatalf("publishing took %v with clients, %v without", with, base)
	}
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 16<<20 {
		t.Fatalf("heap grew by %d KB", grow>>10)
	}
	waitSubs(100) // the stalled ones are cut off
	// The idle clients still get live events.
	f.hub.HandleChainEvents([]chain.Event{{Kind: chain.BlockDisconnected, Block: &wire.Block{}, Height: 5}})
	for _, c := range idle {
		if ev := c.next(); ev.Type != "unblock" {
			t.Fatalf("idle client got %+v", ev)
		}
	}
	// Real blocks are processed at once with them all connected.
	f.clock.Set(fixtureNow.Add(30 * 24 * time.Hour))
	t0 := time.Now()
	for i := 0; i < 10; i++ {
		f.addBlock()
	}
	t.Logf("10 blocks processed in %v", time.Since(t0))
}

// TestEventsEndOnStop: stopping the server ends open streams (Shutdown
// would otherwise wait for them forever).
func TestEventsEndOnStop(t *testing.T) {
	f := newFixture(t)
	c := f.openEvents(f.eventsURL(false, ""), false, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := f.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		t.Fatal("stream still open after Stop")
	}
}
