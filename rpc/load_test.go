package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"tally/rpc/client"
	"testing"
	"time"

	"tally/wire"
)

// TestRPCLoad drives getblock, getmerkleproof and getheaders, one method
// at a time, at a fixed rate (open loop: request i is due at start +
// i/rate whether or not earlier ones have finished, and its latency counts
// from when it was due) from keep-alive clients on 127.0.0.1, and reports
// the achieved rate and the latency percentiles. The load generator runs
// in the same process, on the same cores.
//
//	TALLY_RPC_LOAD=1 go test -run TestRPCLoad -v ./rpc/
//
// Loads: getblock (verbosity 1, blocks of 51 transactions), getmerkleproof
// (a random confirmed transaction, through --txindex), getheaders (100
// headers from a random height), each at the target rate; then
// getheaders2000 (2,000 headers, a light client's bulk sync) at a
// twentieth of it. Each prints one "RPCLOAD method=... p99_ms=..." line,
// with the process's CPU time per request (server and load generator)
// and the load average before the run (other work on the cores).
//
// TALLY_RPC_LOAD_RATE (default 2000 requests/s) and TALLY_RPC_LOAD_SECONDS
// (default 5) change the load; TALLY_RPC_LOAD_METHODS=getheaders,...
// runs only some loads.
func TestRPCLoad(t *testing.T) {
	if os.Getenv("TALLY_RPC_LOAD") == "" {
		t.Skip("load test: set TALLY_RPC_LOAD=1")
	}
	rate := envInt(t, "TALLY_RPC_LOAD_RATE", 2000)
	seconds := envInt(t, "TALLY_RPC_LOAD_SECONDS", 5)
	f := newFixture(t)
	// Confirm the pool first: the generator's coins are all spendable.
	mined, err := f.miner.Generate(context.Background(), 1, f.g.PKH)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := f.c.Block(mined[0])
	f.blocks = append(f.blocks, mb)
	f.clock.Set(fixtureNow.Add(3000 * 600 * time.Second))
	// 30 more blocks of 50 payments each, then 2,000 empty blocks so that
	// header requests reach back into a real chain.
	for i := 0; i < 30; i++ {
		txs := make([]*wire.Tx, 50)
		for j := range txs {
			txs[j] = f.pay(1000)
		}
		f.addBlock(txs...)
	}
	for i := 0; i < 2000; i++ {
		f.addBlock()
	}
	height := len(f.blocks) - 1
	var txids []wire.Hash
	for _, b := range f.blocks[22:52] {
		txids = append(txids, b.TxIDs()...)
	}
	ids := make([]wire.Hash, len(f.blocks))
	for i, b := range f.blocks {
		ids[i] = b.BlockID()
	}
	t.Logf("chain of %d blocks, %d transactions to prove, GOMAXPROCS %d, %d requests/s for %d s per method",
		height, len(txids), runtime.GOMAXPROCS(0), rate, seconds)

	// The load generator is a minimal HTTP/1.1 client (as wrk is): each
	// worker keeps one connection alive, writes a request and reads the
	// response by its Content-Length, checking that it is a result
	// without decoding it. TALLY_RPC_LOAD_CLIENT=nethttp uses net/http's
	// client instead, and =full the rpc.Client, which also decodes every
	// result; both cost more CPU on the same cores.
	var newCaller func() caller
	switch os.Getenv("TALLY_RPC_LOAD_CLIENT") {
	case "full":
		c := clientCaller{client.New(f.srv.Addr(), "alice", "correct horse")}
		newCaller = func() caller { return c }
	case "nethttp":
		c := newRawCaller("http://"+f.srv.Addr(), "alice", "correct horse")
		newCaller = func() caller { return c }
	default:
		newCaller = func() caller {
			return &connCaller{addr: f.srv.Addr(), auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:correct horse"))}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	type load struct {
		name, method string
		rate         int
		params       func() []any
	}
	for _, l := range []load{
		// Blocks of 51 transactions (50 payments), verbosity 1.
		{"getblock", "getblock", rate, func() []any { return []any{ids[22+rng.IntN(30)], 1} }},
		{"getmerkleproof", "getmerkleproof", rate, func() []any { return []any{txids[rng.IntN(len(txids))]} }},
		{"getheaders", "getheaders", rate, func() []any { return []any{rng.IntN(height - 100), 100} }},
		// A light client's bulk sync: the most headers a call returns.
		{"getheaders2000", "getheaders", max(1, rate/20), func() []any { return []any{rng.IntN(height - 2000), 2000} }},
	} {
		if only := os.Getenv("TALLY_RPC_LOAD_METHODS"); only != "" && !slices.Contains(strings.Split(only, ","), l.name) {
			continue
		}
		load0 := loadAvg()
		cpu0 := cpuTime()
		res := runLoad(t, newCaller, l.method, l.params, l.rate, time.Duration(seconds)*time.Second)
		cpuPerReq := float64(cpuTime()-cpu0) / float64(time.Microsecond) / float64(res.n)
		fmt.Printf("RPCLOAD method=%s target_rps=%d achieved_rps=%.0f requests=%d errors=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f cpu_us_per_req=%.0f loadavg_before=%s\n",
			l.name, l.rate, res.achieved, res.n, res.errors, ms(res.p50), ms(res.p90), ms(res.p99), ms(res.max), cpuPerReq, load0)
		if res.errors > 0 {
			t.Errorf("%s: %d errors", l.method, res.errors)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

type loadResult struct {
	n, errors          int
	achieved           float64
	p50, p90, p99, max time.Duration
}

// runLoad issues calls at rate per second for d, open loop, from a pool of
// workers, and returns latency percentiles counted from each call's due
// time.
func runLoad(t *testing.T, newCaller func() caller, method string, params func() []any, rate int, d time.Duration) loadResult {
	t.Helper()
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	type job struct {
		due    time.Time
		params []any
	}
	jobs := make(chan job, total)
	lat := make([]time.Duration, total)
	var errs int
	var mu sync.Mutex
	var wg sync.WaitGroup
	var next int
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli := newCaller()
			for j := range jobs {
				err := cli.call(method, j.params)
				l := time.Since(j.due)
				mu.Lock()
				lat[next] = l
				next++
				if err != nil {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		jobs <- job{due: due, params: params()}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return loadResult{n: total, errors: errs, achieved: float64(total) / elapsed.Seconds(),
		p50: pct(0.50), p90: pct(0.90), p99: pct(0.99), max: lat[len(lat)-1]}
}

// cpuTime is the process's user plus system CPU time (client and server
// both run here).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the one-minute load average, to judge whether other work
// shared the cores during a run.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// BenchmarkExec measures the server's work per call without HTTP:
// decoding the request, the handler and encoding the response.
func BenchmarkExec(b *testing.B) {
	f := newFixture(b)
	for _, c := range []struct {
		name string
		body string
	}{
		{"getblock", `{"jsonrpc":"2.0","id":1,"method":"getblock","params":["` + f.blocks[20].BlockID().String() + `"]}`},
		{"getmerkleproof", `{"jsonrpc":"2.0","id":1,"method":"getmerkleproof","params":["` + f.blocks[20].Txs[1].TxID().String() + `"]}`},
		{"getheaders", `{"jsonrpc":"2.0","id":1,"method":"getheaders","params":[0,20]}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ResetTimer()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				reqs, _, rerr := decodeRequests([]byte(c.body), 10)
				if rerr != nil {
					b.Fatal(rerr)
				}
				res, err, _ := f.srv.exec(context.Background(), &reqs[0], false)
				if err != nil {
					b.Fatal(err)
				}
				_ = appendResponse(nil, &reqs[0], res, nil)
			}
		})
	}
}

// caller makes one call for the load generator.
type caller interface {
	call(method string, params []any) error
}

type clientCaller struct{ c *client.Client }

func (c clientCaller) call(method string, params []any) error {
	var raw json.RawMessage
	return c.c.Call(context.Background(), method, params, &raw)
}

// rawCaller posts a JSON-RPC 2.0 request over a keep-alive connection and
// checks that the response is a result, reading but not decoding it.
type rawCaller struct {
	url, auth string
	http      *http.Client
}

func newRawCaller(url, user, pass string) *rawCaller {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &rawCaller{url: url, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), http: &http.Client{Transport: tr}}
}

var resultPrefix = []byte(`{"jsonrpc":"2.0","result":`)

func (c *rawCaller) call(method string, params []any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.auth)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(b, resultPrefix) {
		return fmt.Errorf("%s: HTTP %d %.200s", method, resp.StatusCode, b)
	}
	return nil
}

// connCaller is a minimal keep-alive HTTP/1.1 client over one connection.
type connCaller struct {
	addr, auth string
	conn       net.Conn
	r          *bufio.Reader
	buf        []byte
}

func (c *connCaller) call(method string, params []any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return err
	}
	if c.conn == nil {
		if c.conn, err = net.Dial("tcp", c.addr); err != nil {
			return err
		}
		c.r = bufio.NewReaderSize(c.conn, 64<<10)
	}
	c.buf = fmt.Appendf(c.buf[:0], "POST / HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", c.addr, c.auth, len(body))
	c.buf = append(c.buf, body...)
	if _, err := c.conn.Write(c.buf); err != nil {
		c.conn.Close()
		c.conn = nil
		return err
	}
	status, n := 0, -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			c.conn.Close()
			c.conn = nil
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if status == 0 {
			if f := bytes.Fields(line); len(f) >= 2 {
				status, _ = strconv.Atoi(string(f[1]))
			}
			continue
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		c.conn.Close()
		c.conn = nil
		return fmt.Errorf("%s: HTTP %d without Content-Length", method, status)
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	resp := c.buf[:n]
	if _, err := io.ReadFull(c.r, resp); err != nil {
		c.conn.Close()
		c.conn = nil
		return err
	}
	if status != http.StatusOK || !bytes.HasPrefix(resp, resultPrefix) {
		return fmt.Errorf("%s: HTTP %d %.200s", method, status, resp)
	}
	return nil
}
