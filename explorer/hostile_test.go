package explorer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/rpc/rpcjson"
	"tally/wallet"
)

// TestHostileInput plays a visitor who types anything into the address
// bar and the search box: each request gets the right status, a page that
// says what was wrong, and nothing it sent comes back unescaped.
func TestHostileInput(t *testing.T) {
	tn := newTestNode(t, 3, Config{})
	tip, _ := tn.tip()
	unknown := strings.Repeat("ab", 32)
	script := `<script>alert(1)</script>`
	cases := []struct {
		path   string
		status int
		want   string
	}{
		{"/nope", 404, "no page at this address"},
		{"/block/", 404, "no page at this address"},
		{"/block/" + url.PathEscape(script), 400, "hash (64 hex digits) or its height"},
		{"/block/" + unknown, 404, "was not found"},
		{"/block/4", 404, "height 4 was not found"},
		{"/block/99999999999999999", 404, "was not found"},
		{"/block/18446744073709551616", 400, "64 hex digits"},
		{"/block/-1", 400, "64 hex digits"},
		{"/block/1?page=0", 400, "page must be a number"},
		{"/block/1?page=-3", 400, "page must be a number"},
		{"/block/1?page=99999999999999999999999", 400, "page must be a number"},
		{"/block/1?page=1e3", 400, "page must be a number"},
		{"/block/1?page=1000000", 404, "last page of this block is page 1"},
		{"/block/1?page=2", 404, "last page of this block is page 1"},
		{"/block/1?page=1&page=1", 400, "more than once"},
		{"/block/1?x=" + url.QueryEscape(script), 400, "unknown parameter"},
		{"/tx/zz", 400, "64 hex digits"},
		{"/tx/" + unknown, 404, "no record of it"},
		{"/tx/" + unknown + "/proof", 404, "not found"},
		{"/tx/" + tn.poolTxs[0].TxID().String() + "/proof", 404, "not found"},
		{"/address/" + url.PathEscape(script), 400, "letters and digits"},
		{"/address/" + strings.Repeat("q", 101), 400, "letters and digits"},
		{"/address/" + tn.otherAddr[:len(tn.otherAddr)-1] + "x", 400, "Not an address of this network"},
		{"/address/" + tn.otherAddr + "?page=2", 400, "unknown parameter"},
		{"/address/" + tn.otherAddr + "?after=", 400, "cursor of a history page"},
		{"/address/" + tn.otherAddr + "?after=" + url.QueryEscape(script), 400, "cursor of a history page"},
		{"/address/" + tn.otherAddr + "?after=12:34", 400, "cursor of a history page"},
		{"/address/" + tn.otherAddr + "?after=" + strings.Repeat("9", 90), 400, "cursor of a history page"},
		{"/mempool?page=1", 400, "unknown parameter"},
		{"/search", 400, "Type a block height"},
		{"/search?q=", 400, "Type a block height"},
		{"/search?q=" + url.QueryEscape(script), 400, "Not a block height"},
		{"/search?q=" + url.QueryEscape(`"><img src=x onerror=alert(1)>`), 400, "Not a block height"},
		{"/search?q=" + strings.Repeat("9", 200), 400, "longer than 128"},
		{"/search?q=99999", 404, "no block at height 99999"},
		{"/search?q=" + unknown, 404, "No block or transaction"},
		{"/search?q=tally1qqqqqqqqqqqqqqqqqqqq", 400, "address of this network"},
		{"/search?q=1&q=2", 400, "more than once"},
		{"/?" + strings.Repeat("a", 600), 414, "too long"},
		{"/api/tip?x=1", 400, "unknown parameter"},
	}
	for _, c := range cases {
		st, body, _ := tn.get(c.path)
		if st != c.status {
			t.Errorf("%s: status %d, want %d: %.300s", c.path, st, c.status, body)
			continue
		}
		if !strings.Contains(body, c.want) {
			t.Errorf("%s: body lacks %q: %.600s", c.path, c.want, body)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", `"><img`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: the page echoes %q unescaped", c.path, raw)
			}
		}
	}
	// The search box keeps what was typed, escaped.
	_, body, _ := tn.get("/search?q=" + url.QueryEscape(script))
	mustContain(t, "search echo", body, `value="&lt;script&gt;alert(1)&lt;/script&gt;"`)

	// Write methods are refused; HEAD works.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		if st, _, h := fetch(t, m, tn.url+"/block/"+tip.BlockID().String()); st != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: status %d Allow %q", m, st, h.Get("Allow"))
		}
	}
	if st, body, _ := fetch(t, http.MethodHead, tn.url+"/"); st != 200 || body != "" {
		t.Errorf("HEAD /: %d with %d bytes", st, len(body))
	}
}

// TestRateLimit: a client over its budget gets 429 with Retry-After.
func TestRateLimit(t *testing.T) {
	tn := newTestNode(t, 1, Config{Rate: 0.001, Burst: 3})
	for i := 0; i < 3; i++ {
		if st, _, _ := tn.get("/api/tip"); st != 200 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	st, _, h := tn.get("/api/tip")
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("over budget: %d, Retry-After %q", st, h.Get("Retry-After"))
	}
	if st, _, _ := tn.get("/static/style.css"); st != http.StatusTooManyRequests {
		t.Fatalf("static files are outside the budget: %d", st)
	}
}

// TestCallPublicRefusesPrivate: the explorer's entry into the RPC server
// serves only the public listener's methods.
func TestCallPublicRefusesPrivate(t *testing.T) {
	tn := newTestNode(t, 1, Config{})
	ctx := context.Background()
	for _, m := range []string{"stop", "generatetoaddress", "sendrawtransaction", "addnode", "gettxoutsetinfo", "nosuchmethod"} {
		_, err := tn.rpc.CallPublic(ctx, m, "x")
		var re *rpcjson.RPCError
		if !errors.As(err, &re) || re.Code != rpcjson.CodeMethodNotFound {
			t.Errorf("%s: %v, want method not found", m, err)
		}
	}
	raw, err := tn.rpc.CallPublic(ctx, "getblockcount")
	if err != nil || string(raw) != "1" {
		t.Errorf("getblockcount: %s %v", raw, err)
	}
	if _, err := tn.rpc.CallPublic(ctx, "getblockhash", "x"); rpcCode(err) != rpcjson.CodeInvalidParams {
		t.Errorf("bad parameter: %v", err)
	}
}

// failing is a backend whose every call fails with err.
type failing struct{ err error }

func (f failing) CallPublic(context.Context, string, ...any) (json.RawMessage, error) {
	return nil, f.err
}

// TestBackendErrors: a backend that fails or is still loading gives a
// clean error page, not a broken one.
func TestBackendErrors(t *testing.T) {
	tn := newTestNode(t, 1, Config{})
	for _, c := range []struct {
		err    error
		status int
		want   string
	}{
		{&rpcjson.RPCError{Code: rpcjson.CodeWarmingUp, Message: "loading"}, 503, "Still loading"},
		{errors.New("disk on fire <b>"), 500, "disk on fire &lt;b&gt;"},
	} {
		tn.startExplorer(Config{}, failing{c.err})
		for _, path := range []string{"/", "/block/1", "/mempool", "/tx/" + strings.Repeat("0", 64)} {
			st, body, _ := tn.get(path)
			if st != c.status || !strings.Contains(body, c.want) {
				t.Errorf("%v %s: %d %.300s", c.err, path, st, body)
			}
		}
	}
}

// richer adds to the real server what a newer node offers
// (getblockstats; getrawtransaction verbosity 2 with prevouts and fee),
// answered from what the test knows, and counts getrawtransaction calls.
type richer struct {
	tn    *testNode
	mu    sync.Mutex
	rawTx int
}

func (r *richer) CallPublic(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	switch method {
	case "getblockstats":
		return json.Marshal(map[string]any{"totalfee": 424242, "subsidy": 5000000000, "avgfee": 2121, "avgfeerate": 11,
			"feerate_percentiles": []int{1, 2, 3, 4, 5}, "ins": 2, "outs": 5, "txs": 3, "utxo_increase": 3})
	case "getrawtransaction":
		r.mu.Lock()
		r.rawTx++
		r.mu.Unlock()
		raw, err := r.tn.rpc.CallPublic(ctx, method, params...)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		m["fee"] = 777
		for _, in := range m["vin"].([]any) {
			in.(map[string]any)["prevout"] = map[string]any{"value": 31337, "address": r.tn.genAddr, "height": 1}
		}
		return json.Marshal(m)
	}
	return r.tn.rpc.CallPublic(ctx, method, params...)
}

// TestRicherBackend: when the node offers getblockstats and prevouts,
// the pages show them and stop looking inputs up one by one.
func TestRicherBackend(t *testing.T) {
	tn := newTestNode(t, 5, Config{})
	rb := &richer{tn: tn}
	tn.startExplorer(Config{}, rb)
	st, body, _ := tn.get("/block/3")
	if st != 200 {
		t.Fatalf("block: %d", st)
	}
	mustContain(t, "block stats", body, "Statistics", wallet.FormatAmount(424242), "1 · 2 · 3 · 4 · 5")
	st, body, _ = tn.get("/")
	if st != 200 {
		t.Fatalf("home: %d", st)
	}
	mustContain(t, "home", body, "Fees per block")
	rb.mu.Lock()
	rb.rawTx = 0
	rb.mu.Unlock()
	st, body, _ = tn.get("/tx/" + tn.payments[3].TxID().String())
	if st != 200 {
		t.Fatalf("tx: %d", st)
	}
	mustContain(t, "tx", body, wallet.FormatAmount(777)+" TALLY", wallet.FormatAmount(31337))
	if rb.rawTx != 1 {
		t.Errorf("the transaction page made %d getrawtransaction calls with prevouts given, want 1", rb.rawTx)
	}

	// Without them, the page looks the input up.
	tn.startExplorer(Config{}, older{tn})
	_, body, _ = tn.get("/tx/" + tn.payments[3].TxID().String())
	mustContain(t, "tx without prevouts", body, wallet.FormatAmount(tn.g.Fee(tn.payments[3]))+" TALLY")
	_, body, _ = tn.get("/block/3")
	if strings.Contains(body, "Statistics") {
		t.Error("block page shows statistics the backend does not have")
	}
}

// older is the real server without getblockstats and prevouts, as a node
// before them answers.
type older struct{ tn *testNode }

func (o older) CallPublic(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	if method == "getblockstats" {
		return nil, &rpcjson.RPCError{Code: rpcjson.CodeMethodNotFound, Message: "Method not found"}
	}
	raw, err := o.tn.rpc.CallPublic(ctx, method, params...)
	if err != nil || method != "getrawtransaction" {
		return raw, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "fee")
	for _, in := range m["vin"].([]any) {
		delete(in.(map[string]any), "prevout")
	}
	return json.Marshal(m)
}

// blocking is a backend whose calls wait until release is closed.
type blocking struct {
	entered chan struct{}
	release chan struct{}
}

func (b blocking) CallPublic(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return nil, &rpcjson.RPCError{Code: rpcjson.CodeNotFound, Message: "released"}
}

// TestBusy: pages that hold every rendering slot make the next request
// wait a little and then get 503, rather than piling up work.
func TestBusy(t *testing.T) {
	tn := newTestNode(t, 1, Config{})
	b := blocking{entered: make(chan struct{}, 1), release: make(chan struct{})}
	tn.startExplorer(Config{MaxConcurrent: 1}, b)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(tn.url + "/block/1")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-b.entered
	start := time.Now()
	st, body, h := tn.get("/block/2")
	if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "busy") {
		t.Errorf("second page while the only slot is held: %d %q", st, body)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("refused after %s, want a short wait first", waited)
	}
	close(b.release)
	if st := <-done; st != http.StatusNotFound {
		t.Errorf("first page: %d", st)
	}
}
