package explorer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tally/rpc/rpcjson"
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
		{"/address/" + tn.otherAddr + "?page=9", 404, "last page of this address is page 1"},
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
