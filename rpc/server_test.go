package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"tally/rpc/client"
	"tally/rpc/rpcjson"
	"testing"
	"time"

	"tally/chain"
	"tally/mempool"
	"tally/wire"
)

func TestAuth(t *testing.T) {
	f := newFixture(t)
	url := "http://" + f.srv.Addr()
	cookiePath := filepath.Join(f.dir, rpcjson.CookieFile)
	raw, err := os.ReadFile(cookiePath)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^__cookie__:[0-9a-f]{64}$`).Match(raw) {
		t.Fatalf("cookie %q", raw)
	}
	if st, _ := os.Stat(cookiePath); st.Mode().Perm() != 0o600 {
		t.Fatalf("cookie mode %v", st.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(f.dir, rpcjson.CookieFile+".tmp*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
	cookiePass := strings.TrimPrefix(string(raw), "__cookie__:")
	body := `{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`
	for _, c := range []struct {
		name, user, pass string
		want             int
	}{
		{"none", "", "", http.StatusUnauthorized},
		{"wrong password", "alice", "wrong", http.StatusUnauthorized},
		{"wrong user", "bob", "correct horse", http.StatusUnauthorized},
		{"wrong cookie", rpcjson.CookieUser, strings.Repeat("0", 64), http.StatusUnauthorized},
		{"cookie prefix", rpcjson.CookieUser, cookiePass[:63], http.StatusUnauthorized},
		{"cookie as user/password", "alice", cookiePass, http.StatusUnauthorized},
		{"cookie", rpcjson.CookieUser, cookiePass, http.StatusOK},
		{"user/password", "alice", "correct horse", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, b, h := post(t, url, c.user, c.pass, body)
			if st != c.want {
				t.Fatalf("status %d, want %d", st, c.want)
			}
			if st == http.StatusUnauthorized {
				if len(b) != 0 || h.Get("WWW-Authenticate") != `Basic realm="jsonrpc"` {
					t.Fatalf("401 with body %q, header %q", b, h.Get("WWW-Authenticate"))
				}
			} else if !strings.Contains(string(b), `"result":20`) {
				t.Fatalf("body %s", b)
			}
		})
	}
	// The client reports a 401 clearly.
	bad := client.New(url, "alice", "nope")
	if _, err := bad.GetBlockCount(context.Background()); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("client error %v", err)
	}
	// GET is refused, healthz needs no credentials.
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth("alice", "correct horse")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	if resp, err := http.Get(url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	// A clean stop removes the cookie.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cookiePath); !os.IsNotExist(err) {
		t.Fatalf("cookie still there after Stop: %v", err)
	}
}

func TestNewRefusesMissingCredentials(t *testing.T) {
	f := newFixture(t)
	deps := Deps{Chain: f.c, Mempool: f.pool}
	for _, cfg := range []Config{
		{Params: f.p},
		{Params: f.p, User: "u"},
		{Params: f.p, User: rpcjson.CookieUser, Password: "x"},
		{User: "u", Password: "p"},
	} {
		if _, err := New(cfg, deps); err == nil {
			t.Fatalf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{Params: f.p, User: "u", Password: "p"}, Deps{Chain: f.c}); err == nil {
		t.Fatal("New without a mempool accepted")
	}
}

func TestPublicListener(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if n, err := f.pub.GetBlockCount(ctx); err != nil || n != 20 {
		t.Fatalf("getblockcount on the public listener: %d %v", n, err)
	}
	tx := f.pay(3000)
	for _, c := range []struct {
		method string
		params []any
	}{
		{"sendrawtransaction", []any{hexOf(tx.Encode())}},
		{"submitblock", []any{hexOf(f.g.Block(f.tip(), nil).Encode())}},
		{"stop", nil},
		{"generatetoaddress", []any{1, f.genAddr}},
		{"addnode", []any{"/ip4/127.0.0.1/tcp/1"}},
		{"getblocktemplate", nil},
		{"gettxoutsetinfo", nil},
		{"getpeerinfo", nil},
	} {
		err := f.pub.Call(ctx, c.method, c.params, nil)
		var re *rpcjson.RPCError
		if !errors.As(err, &re) || re.Code != rpcjson.CodeMethodNotFound || !strings.Contains(re.Message, "not available on the public interface") {
			t.Fatalf("%s on the public listener: %v", c.method, err)
		}
	}
	if f.pool.Has(tx.TxID()) || f.c.Tip().Height != 20 {
		t.Fatal("a refused write took effect")
	}
	select {
	case <-f.stopped:
		t.Fatal("stop ran from the public listener")
	default:
	}
	// Every method the table marks public works there (help lists them).
	var helpText string
	if err := f.pub.Call(ctx, "help", nil, &helpText); err != nil {
		t.Fatal(err)
	}
	for name, m := range methodTable {
		listed := regexp.MustCompile(`(?m)^` + name + `( |$)`).MatchString(helpText)
		if listed != m.Public {
			t.Errorf("public help lists %s: %v, public: %v", name, listed, m.Public)
		}
	}
	var hb string
	f.pub.Call(ctx, "help", []any{"sendrawtransaction"}, &hb)
	if hb != "help: unknown command: sendrawtransaction" {
		t.Fatalf("public help of a private method: %q", hb)
	}
	// Read-only methods answer with values.
	var txids rpcjson.AddressTxIDPage
	if err := f.pub.Call(ctx, "getaddresstxids", []any{f.otherAddr, 1, 1}, &txids); err != nil || len(txids.TxIDs) != 2 {
		t.Fatalf("getaddresstxids: %v %v", txids, err)
	}
	if _, err := f.pub.GetMerkleProof(ctx, f.blocks[4].Txs[2].TxID()); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get("http://" + f.srv.PublicAddr() + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("public healthz: %v %v", resp, err)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg = func(c *Config) { c.PublicRate, c.PublicBurst = 5, 10 }
	})
	url := "http://" + f.srv.PublicAddr()
	body := `{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`
	for i := 0; i < 10; i++ {
		if st, b, _ := post(t, url, "", "", body); st != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, st, b)
		}
	}
	st, b, h := post(t, url, "", "", body)
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(string(b), "rate limit") {
		t.Fatalf("11th request: %d %s", st, b)
	}
	if err := f.pub.Call(context.Background(), "getblockcount", nil, nil); !errors.Is(err, client.ErrRateLimited) {
		t.Fatalf("client: %v", err)
	}
	// The private listener is not limited.
	for i := 0; i < 20; i++ {
		if _, err := f.cli.GetBlockCount(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// One second refills 5 tokens; a batch of 6 costs 6.
	f.clock.Set(fixtureNow.Add(time.Second))
	batch := "[" + strings.TrimSuffix(strings.Repeat(body+",", 6), ",") + "]"
	if st, _, _ := post(t, url, "", "", batch); st != http.StatusTooManyRequests {
		t.Fatalf("batch of 6 with 5 tokens: %d", st)
	}
	f.clock.Set(fixtureNow.Add(3 * time.Second))
	if st, b, _ := post(t, url, "", "", batch); st != http.StatusOK || strings.Count(string(b), `"result":20`) != 6 {
		t.Fatalf("batch of 6 with 10 tokens: %d %s", st, b)
	}
}

func TestBodyAndBatchLimits(t *testing.T) {
	f := newFixture(t)
	big := `{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":["` + strings.Repeat("a", 5<<20) + `"]}`
	st, b := f.postPriv(big)
	if st != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "-32600") {
		t.Fatalf("5 MiB body: %d %.200s", st, b)
	}
	pubBig := `{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":["` + strings.Repeat("a", 300<<10) + `"]}`
	if st, _, _ := post(t, "http://"+f.srv.PublicAddr(), "", "", pubBig); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("300 KiB public body: %d", st)
	}
	// A maximum-size block fits the private limit: the body is read and
	// the block judged (here: it does not decode).
	blockHex := strings.Repeat("00", f.p.MaxBlockBytes)
	if err := f.call("submitblock", []any{blockHex}, nil); rpcCode(err) != rpcjson.CodeDecode {
		t.Fatalf("max-size submitblock: %v", err)
	}
	call := `{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`
	batch := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat(call+",", n), ",") + "]" }
	if st, b := f.postPriv(batch(1000)); st != http.StatusOK || strings.Count(string(b), `"result":20`) != 1000 {
		t.Fatalf("batch of 1000: %d", st)
	}
	st, b = f.postPriv(batch(1001))
	var resp struct{ Error *rpcjson.RPCError }
	mustJSON(t, b, &resp)
	if st != http.StatusBadRequest || resp.Error.Code != rpcjson.CodeInvalidRequest {
		t.Fatalf("batch of 1001: %d %s", st, b)
	}
	if st, _, _ := post(t, "http://"+f.srv.PublicAddr(), "", "", batch(101)); st != http.StatusBadRequest {
		t.Fatalf("public batch of 101: %d", st)
	}
}

// TestBatch checks that a batch is answered entry by entry.
func TestBatch(t *testing.T) {
	f := newFixture(t)
	body := `[
		{"jsonrpc":"2.0","id":1,"method":"getblockcount"},
		{"jsonrpc":"2.0","id":"two","method":"nosuchmethod"},
		42,
		{"jsonrpc":"2.0","id":4,"method":"getblockhash","params":["x"]},
		{"jsonrpc":"2.0","method":"getblockcount"},
		{"method":"getblockhash","params":[1],"id":null},
		{"jsonrpc":"2.0","id":7,"method":"getblockhash","params":{"height":2}},
		{"jsonrpc":"2.0","id":8,"method":"getblockhash","params":{"h":2}},
		{"jsonrpc":"2.0","id":{"a":1},"method":"getblockcount"},
		{"version":"1.1","id":10,"method":"getbestblockhash","params":[]}
	]`
	st, b := f.postPriv(body)
	if st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	var got []map[string]json.RawMessage
	mustJSON(t, b, &got)
	type want struct {
		id     string
		result string
		code   int
		v2     bool
	}
	wants := []want{
		{`1`, `20`, 0, true},
		{`"two"`, ``, rpcjson.CodeMethodNotFound, true},
		{`null`, ``, rpcjson.CodeInvalidRequest, false},
		{`4`, ``, rpcjson.CodeInvalidParams, true},
		// the notification gets no entry
		{`null`, `"` + f.blocks[1].BlockID().String() + `"`, 0, false},
		{`7`, `"` + f.blocks[2].BlockID().String() + `"`, 0, true},
		{`8`, ``, rpcjson.CodeInvalidParameter, true},
		{`null`, ``, rpcjson.CodeInvalidRequest, false},
		{`10`, `"` + f.blocks[20].BlockID().String() + `"`, 0, false},
	}
	if len(got) != len(wants) {
		t.Fatalf("%d responses, want %d: %s", len(got), len(wants), b)
	}
	for i, w := range wants {
		g := got[i]
		if string(g["id"]) != w.id {
			t.Errorf("entry %d: id %s, want %s", i, g["id"], w.id)
		}
		if _, has := g["jsonrpc"]; has != w.v2 && w.code != rpcjson.CodeInvalidRequest {
			t.Errorf("entry %d: jsonrpc field %v, want %v", i, has, w.v2)
		}
		if w.code == 0 {
			if string(g["result"]) != w.result {
				t.Errorf("entry %d: result %s, want %s", i, g["result"], w.result)
			}
			if e, ok := g["error"]; ok && string(e) != "null" {
				t.Errorf("entry %d: error %s", i, e)
			}
			continue
		}
		var e rpcjson.RPCError
		mustJSON(t, g["error"], &e)
		if e.Code != w.code {
			t.Errorf("entry %d: code %d, want %d (%s)", i, e.Code, w.code, e.Message)
		}
		if res, ok := g["result"]; ok && string(res) != "null" {
			t.Errorf("entry %d: result %s beside an error", i, res)
		}
	}
	// Only notifications: no content.
	if st, b := f.postPriv(`[{"jsonrpc":"2.0","method":"getblockcount"}]`); st != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("notification batch: %d %q", st, b)
	}
	if st, b := f.postPriv(`{"jsonrpc":"2.0","method":"getblockcount"}`); st != http.StatusNoContent || len(b) != 0 {
		t.Fatalf("notification: %d %q", st, b)
	}
}

// TestMalformed sends hostile bodies; each gets a JSON-RPC error with the
// right code and the server keeps answering.
func TestMalformed(t *testing.T) {
	f := newFixture(t)
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	cases := []struct {
		name, body string
		status     int
		code       int
	}{
		{"empty", "", 400, rpcjson.CodeParseError},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"getblockcount"`, 400, rpcjson.CodeParseError},
		{"trailing", `{"jsonrpc":"2.0","id":1,"method":"getblockcount"} {}`, 400, rpcjson.CodeParseError},
		{"not json", `hello`, 400, rpcjson.CodeParseError},
		{"deep nesting", deep, 400, rpcjson.CodeParseError},
		{"empty batch", `[]`, 400, rpcjson.CodeInvalidRequest},
		{"number", `42`, 400, rpcjson.CodeInvalidRequest},
		{"null", `null`, 400, rpcjson.CodeInvalidRequest},
		{"method number", `{"jsonrpc":"2.0","id":1,"method":5}`, 200, rpcjson.CodeInvalidRequest},
		{"method missing", `{"jsonrpc":"2.0","id":1}`, 200, rpcjson.CodeInvalidRequest},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":"x"}`, 200, rpcjson.CodeInvalidRequest},
		{"jsonrpc number", `{"jsonrpc":2,"id":1,"method":"getblockcount"}`, 400, rpcjson.CodeInvalidRequest},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"getblockcount"}`, 400, rpcjson.CodeInvalidRequest},
		{"id bool", `{"jsonrpc":"2.0","id":true,"method":"getblockcount"}`, 400, rpcjson.CodeInvalidRequest},
		{"unknown method 2.0", `{"jsonrpc":"2.0","id":1,"method":"x"}`, 200, rpcjson.CodeMethodNotFound},
		{"unknown method 1.0", `{"id":1,"method":"x","params":[]}`, 404, rpcjson.CodeMethodNotFound},
		{"bad params 1.0", `{"id":1,"method":"getblockhash","params":["x"]}`, 500, rpcjson.CodeInvalidParams},
		{"huge height", `{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[1e400]}`, 200, rpcjson.CodeInvalidParameter},
		{"huge int height", `{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[123456789012345678901234567890]}`, 200, rpcjson.CodeInvalidParameter},
		{"negative count", `{"jsonrpc":"2.0","id":1,"method":"getheaders","params":[0,-1]}`, 200, rpcjson.CodeInvalidParameter},
		{"float count", `{"jsonrpc":"2.0","id":1,"method":"getheaders","params":[0,2.5]}`, 200, rpcjson.CodeInvalidParameter},
		{"array hash", `{"jsonrpc":"2.0","id":1,"method":"getblock","params":[["00"]]}`, 200, rpcjson.CodeInvalidParams},
		{"object verbosity", `{"jsonrpc":"2.0","id":1,"method":"getblock","params":["` + f.blocks[1].BlockID().String() + `",{}]}`, 200, rpcjson.CodeInvalidParams},
		{"null required", `{"jsonrpc":"2.0","id":1,"method":"getblock","params":[null]}`, 200, rpcjson.CodeInvalidParams},
		{"unknown named", `{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":{"x":1}}`, 200, rpcjson.CodeInvalidParameter},
		{"long method name", `{"jsonrpc":"2.0","id":1,"method":"` + strings.Repeat("x", 100000) + `"}`, 200, rpcjson.CodeMethodNotFound},
		{"utf8 junk", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", 200, rpcjson.CodeMethodNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, b := f.postPriv(c.body)
			var resp struct {
				Error *rpcjson.RPCError `json:"error"`
				ID    any               `json:"id"`
				Res   json.RawMessage   `json:"result"`
			}
			if err := json.Unmarshal(b, &resp); err != nil {
				t.Fatalf("status %d, body not JSON: %.200q", st, b)
			}
			if resp.Error == nil || resp.Error.Code != c.code {
				t.Fatalf("status %d, body %.300s, want code %d", st, b, c.code)
			}
			if st != c.status {
				t.Fatalf("status %d, want %d", st, c.status)
			}
			if len(resp.Error.Message) > 500 {
				t.Fatalf("error message of %d bytes", len(resp.Error.Message))
			}
		})
	}
	if n, err := f.cli.GetBlockCount(context.Background()); err != nil || n != 20 {
		t.Fatalf("server after the malformed requests: %d %v", n, err)
	}
}

func TestHTTPStatusCodes(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`, 200},
		{`{"jsonrpc":"2.0","id":1,"method":"nosuch"}`, 200},
		{`{"jsonrpc":"2.0","id":1,"method":"getblock","params":["00"]}`, 200},
		{`{"id":1,"method":"getblockcount"}`, 200},
		{`{"id":1,"method":"nosuch"}`, 404},
		{`{"id":1,"method":"getblock","params":["00"]}`, 500},
		{`{"id":1,"method":5}`, 400},
		{`{`, 400},
	} {
		if st, b := f.postPriv(c.body); st != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.body, st, c.status, b)
		}
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	get := func(url string) (int, map[string]any) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		mustJSON(t, b, &m)
		return resp.StatusCode, m
	}
	for _, url := range []string{"http://" + f.srv.Addr() + "/healthz", "http://" + f.srv.PublicAddr() + "/healthz"} {
		f.setSynced(true, "")
		st, m := get(url)
		if st != 200 || m["status"] != "ok" || m["height"].(float64) != 20 || m["peers"].(float64) != 2 || m["bestblockhash"] != f.blocks[20].BlockID().String() {
			t.Fatalf("synced: %d %v", st, m)
		}
		f.setSynced(false, "tip is 3 hours old")
		st, m = get(url)
		if st != 503 || m["status"] != "unhealthy" || m["reason"] != "tip is 3 hours old" {
			t.Fatalf("unsynced: %d %v", st, m)
		}
	}
	f.clock.Set(fixtureNow.Add(1_000_000 * time.Second))
	var info rpcjson.BlockchainInfo
	f.mustCall("getblockchaininfo", nil, &info)
	if !info.InitialBlockDownload || info.VerificationProgress != 0.5 || info.VerificationProgress <= 0 {
		t.Fatalf("unsynced getblockchaininfo: %+v", info)
	}
	f.mustCall("getblocktemplate", nil, nil) // dev networks mine while unsynced
}

// panicChain makes one chain method panic.
type panicChain struct{ Chain }

func (panicChain) ChainTips() []chain.TipInfo { panic("boom") }

func TestPanicBecomesInternalError(t *testing.T) {
	f := newFixture(t)
	srv, cli := f.serve(t, Deps{Chain: panicChain{f.c}, Mempool: f.pool})
	if err := cli.Call(context.Background(), "getchaintips", nil, nil); rpcCode(err) != rpcjson.CodeInternal {
		t.Fatalf("panicking handler: %v", err)
	}
	st, b, _ := post(t, "http://"+srv.Addr(), "u", "p", `[{"jsonrpc":"2.0","id":1,"method":"getchaintips"},{"jsonrpc":"2.0","id":2,"method":"getblockcount"}]`)
	if st != 200 || !strings.Contains(string(b), `"result":20`) || !strings.Contains(string(b), "-32603") {
		t.Fatalf("batch with a panicking entry: %d %s", st, b)
	}
}

func TestEstimateSmartFeeNoData(t *testing.T) {
	f := newFixture(t)
	// A fresh pool has seen no blocks.
	pool := newEmptyPool(f)
	_, cli := f.serve(t, Deps{Chain: f.c, Mempool: pool})
	fe, err := cli.EstimateSmartFee(context.Background(), 6)
	if err != nil {
		t.Fatal(err)
	}
	if fe.FeeRate != nil || len(fe.Errors) != 1 || fe.Errors[0] != "Insufficient data or no feerate found" || fe.Blocks != 6 {
		t.Fatalf("%+v", fe)
	}
	// Without indexes, the address and index methods say what is missing.
	for _, m := range []string{"getaddressbalance", "getaddressutxos", "getaddresstxids"} {
		if err := cli.Call(context.Background(), m, []any{f.otherAddr}, nil); rpcCode(err) != rpcjson.CodeInvalidParameter || !strings.Contains(err.Error(), "--addrindex") {
			t.Fatalf("%s without index: %v", m, err)
		}
	}
	if err := cli.Call(context.Background(), "getrawtransaction", []any{f.blocks[3].Txs[1].TxID()}, nil); rpcCode(err) != rpcjson.CodeNotFound || !strings.Contains(err.Error(), "--txindex") {
		t.Fatalf("getrawtransaction without index: %v", err)
	}
	if err := cli.Call(context.Background(), "generatetoaddress", []any{1, f.genAddr}, nil); rpcCode(err) != rpcjson.CodeMethodNotFound {
		t.Fatalf("generatetoaddress off dev: %v", err)
	}
	if err := cli.Call(context.Background(), "stop", nil, nil); rpcCode(err) != rpcjson.CodeMisc {
		t.Fatalf("stop without a hook: %v", err)
	}
}

// TestConcurrentCallsDuringBlocks runs calls from many goroutines while
// blocks arrive (run with -race).
func TestConcurrentCallsDuringBlocks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var ids []wire.Hash
	for _, b := range f.blocks {
		ids = append(ids, b.BlockID())
	}
	payID := f.blocks[3].Txs[1].TxID()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cli := f.cli
			if w%2 == 1 {
				cli = client.New(f.srv.Addr(), "alice", "correct horse")
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch i % 7 {
				case 0:
					_, err = cli.GetHeaders(ctx, 0, 50)
				case 1:
					var r rpcjson.BlockHeaderResult
					err = cli.Call(ctx, "getblockheader", []any{ids[i%20]}, &r)
				case 2:
					_, err = cli.GetMerkleProof(ctx, payID)
				case 3:
					var r any
					err = cli.Call(ctx, "getblock", []any{ids[1+i%19], 2}, &r)
				case 4:
					_, err = cli.GetAddressUTXOs(ctx, f.otherAddr)
				case 5:
					var r any
					err = cli.Call(ctx, "getblockchaininfo", nil, &r)
				case 6:
					var r any
					err = cli.Call(ctx, "getchaintips", nil, &r)
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d call %d: %w", w, i, err)
					return
				}
			}
		}(w)
	}
	for i := 0; i < 10; i++ {
		f.addBlock(f.pay(1000))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func newEmptyPool(f *fixture) *mempool.Pool { return mempool.New(mempool.Config{Chain: f.c}) }

func TestResponseBudget(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg = func(c *Config) { c.MaxResponseBytes, c.PublicMaxResponseBytes = 3000, 3000 }
	})
	id := f.blocks[20].BlockID().String()
	call := `{"jsonrpc":"2.0","id":1,"method":"getblock","params":["` + id + `",2]}`
	st, b := f.postPriv("[" + strings.Repeat(call+",", 4) + call + "]")
	var resps []struct {
		Result json.RawMessage   `json:"result"`
		Error  *rpcjson.RPCError `json:"error"`
	}
	mustJSON(t, b, &resps)
	if st != 200 || len(resps) != 5 || resps[0].Error != nil || resps[4].Error == nil || !strings.Contains(resps[4].Error.Message, "split the batch") {
		t.Fatalf("%d %.400s", st, b)
	}
	if err := f.pub.Call(context.Background(), "getblock", []any{id, 2}, nil); rpcCode(err) != rpcjson.CodeMisc {
		t.Fatalf("public result over the bound: %v", err)
	}
	if err := f.pub.Call(context.Background(), "getblock", []any{id, 1}, nil); err != nil {
		t.Fatalf("public result under the bound: %v", err)
	}
}

func TestPublicConnectionLimit(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.cfg = func(c *Config) { c.PublicMaxConns = 2 } })
	// Two idle connections hold both slots; a third waits until one
	// closes.
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", f.srv.PublicAddr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := client.New(f.srv.PublicAddr(), "", "").GetBlockCount(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("third connection served while two were open: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	conns[0].Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("third connection not served after one closed")
	}
	conns[1].Close()
}

// TestMerkleProofFromLevels checks the cached level-by-level tree against
// wire.BuildMerkleProof (RFC 6962) for every position of trees of 1 to
// 70 leaves.
func TestMerkleProofFromLevels(t *testing.T) {
	for n := 1; n <= 70; n++ {
		cb := &cachedBlock{}
		for i := 0; i < n; i++ {
			cb.txids = append(cb.txids, wire.H([]byte{byte(i), byte(n)}))
		}
		for i := 0; i < n; i++ {
			want, err := wire.BuildMerkleProof(cb.txids, i)
			if err != nil {
				t.Fatal(err)
			}
			got := cb.merkleProof(i)
			if got.Index != want.Index || got.LeafCount != want.LeafCount || len(got.Path) != len(want.Path) {
				t.Fatalf("n=%d i=%d: %+v, want %+v", n, i, got, want)
			}
			for j := range got.Path {
				if got.Path[j] != want.Path[j] {
					t.Fatalf("n=%d i=%d: path differs at %d", n, i, j)
				}
			}
			if err := got.Verify(cb.txids[i], wire.MerkleRoot(cb.txids)); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
		}
	}
}
