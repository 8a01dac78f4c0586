package explorer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/wallet"
)

var (
	txLinks  = regexp.MustCompile(`/tx/[0-9a-f]{64}`)
	nextLink = regexp.MustCompile(`\?after=([0-9a-f%:]+)" rel="next"`)
)

// TestPages fetches every page over HTTP from an explorer on a real RPC
// server and checks the status and the facts the page must show.
func TestPages(t *testing.T) {
	tn := newTestNode(t, 30, Config{})
	tipBlock, height := tn.tip()
	tipID := tipBlock.BlockID().String()

	if got := readAddrFile(t, tn.dir); got != tn.ex.Addr() {
		t.Errorf("explorer.addr holds %q, listening on %q", got, tn.ex.Addr())
	}

	t.Run("home", func(t *testing.T) {
		st, body, h := tn.get("/")
		if st != http.StatusOK {
			t.Fatalf("status %d: %s", st, body)
		}
		if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
		mustContain(t, "home", body, `data-tip="`+tipID+`"`, fmt.Sprintf(">%d</a>", height),
			"/block/"+tipID, "Latest blocks", "Seconds between blocks", "Fees per block",
			"Mempool bytes by fee rate", `<svg viewBox=`, "/static/live.js", "2 tx")
		// The ten latest blocks, newest first.
		for h := height; h > height-latestBlocks; h-- {
			mustContain(t, "home", body, "/block/"+tn.blocks[h].BlockID().String())
		}
		if strings.Contains(body, `href="/block/`+tn.blocks[height-chartBlocks/2].BlockID().String()+`">`+fmt.Sprint(height-chartBlocks/2)) {
			t.Error("home lists more than the latest blocks")
		}
	})

	t.Run("fragment and api", func(t *testing.T) {
		st, body, _ := tn.get("/fragment/home")
		if st != 200 || !strings.HasPrefix(strings.TrimSpace(body), `<div id="live"`) || strings.Contains(body, "<html") {
			t.Fatalf("fragment %d: %.200s", st, body)
		}
		st, body, h := tn.get("/api/tip")
		if st != 200 || h.Get("Content-Type") != "application/json" {
			t.Fatalf("api/tip %d %s", st, h.Get("Content-Type"))
		}
		mustContain(t, "api/tip", body, `"hash":"`+tipID+`"`, fmt.Sprintf(`"height":%d`, height))
	})

	t.Run("block", func(t *testing.T) {
		b := tn.blocks[7]
		id := b.BlockID().String()
		for _, path := range []string{"/block/" + id, "/block/7", "/block/" + strings.ToUpper(id)} {
			st, body, _ := tn.get(path)
			if st != 200 {
				t.Fatalf("%s: status %d", path, st)
			}
			mustContain(t, path, body, "Block 7", id, "/block/"+tn.blocks[6].BlockID().String(), "/block/"+tn.blocks[8].BlockID().String(),
				"/tx/"+b.Txs[0].TxID().String(), "/tx/"+b.Txs[2].TxID().String(), "coinbase", b.Header.MerkleRoot.String())
		}
	})

	t.Run("confirmed tx", func(t *testing.T) {
		tx := tn.payments[4] // in block 3
		st, body, _ := tn.get("/tx/" + tx.TxID().String())
		if st != 200 {
			t.Fatalf("status %d", st)
		}
		// Fee 1000 over the transaction's size, the input's prevout, the
		// outputs, the block and a link to the proof.
		fee := tn.g.Fee(tx)
		mustContain(t, "tx", body, "confirmed", "/block/"+tn.blocks[3].BlockID().String(), ">3</a>",
			wallet.FormatAmount(fee)+" TALLY", feeRate(fee, len(tx.Encode())), "/address/"+tn.otherAddr,
			wallet.FormatAmount(5000), "/tx/"+tx.TxID().String()+"/proof", "/tx/"+tx.Inputs[0].Prev.TxID.String())
	})

	t.Run("pool tx", func(t *testing.T) {
		tx := tn.poolTxs[1]
		st, body, _ := tn.get("/tx/" + tx.TxID().String())
		if st != 200 {
			t.Fatalf("status %d", st)
		}
		mustContain(t, "pool tx", body, "mempool", wallet.FormatAmount(9000)+" TALLY")
		if strings.Contains(body, "/proof") {
			t.Error("an unconfirmed transaction links to a Merkle proof")
		}
	})

	t.Run("proof", func(t *testing.T) {
		tx := tn.payments[4]
		st, body, _ := tn.get("/tx/" + tx.TxID().String() + "/proof")
		if st != 200 {
			t.Fatalf("status %d", st)
		}
		mustContain(t, "proof", body, "Merkle proof", "leaf 1 of 3", tn.blocks[3].BlockID().String(), `&#34;leaf_count&#34;: 3`)
	})

	t.Run("address", func(t *testing.T) {
		// 60 confirmed payments of 5,000, oldest first, 25 a page, then
		// the two in the pool as unconfirmed at the end of the last page.
		n := len(tn.payments)
		path := "/address/" + tn.otherAddr
		var seen []string
		for pages := 1; ; pages++ {
			st, body, _ := tn.get(path)
			if st != 200 {
				t.Fatalf("%s: status %d", path, st)
			}
			mustContain(t, "address", body, tn.otherAddr, wallet.FormatAmount(uint64(n)*5000)+" TALLY",
				"+"+wallet.FormatAmount(10000)+" / −0 TALLY in the mempool", "+"+wallet.FormatAmount(5000))
			seen = append(seen, txLinks.FindAllString(body, -1)...)
			m := nextLink.FindStringSubmatch(body)
			if m == nil {
				if pages != 3 || !strings.Contains(body, "unconfirmed") {
					t.Errorf("last page is page %d, unconfirmed shown: %v", pages, strings.Contains(body, "unconfirmed"))
				}
				break
			}
			if pages > 3 {
				t.Fatal("more pages than entries")
			}
			path = "/address/" + tn.otherAddr + "?after=" + m[1]
		}
		// Oldest first: every payment once, those of a block together
		// (in txid order), the pool's last.
		var want []string
		for h := 1; h < len(tn.blocks); h++ {
			var ids []string
			for _, tx := range tn.blocks[h].Txs[1:] {
				ids = append(ids, "/tx/"+tx.TxID().String())
			}
			slices.Sort(ids)
			want = append(want, ids...)
		}
		var pool []string
		for _, tx := range tn.poolTxs {
			pool = append(pool, "/tx/"+tx.TxID().String())
		}
		slices.Sort(pool)
		want = append(want, pool...)
		if strings.Join(seen, " ") != strings.Join(want, " ") {
			t.Errorf("history pages list %d transactions, want the %d payments in order", len(seen), len(want))
		}
	})

	t.Run("mempool", func(t *testing.T) {
		st, body, _ := tn.get("/mempool")
		if st != 200 {
			t.Fatalf("status %d", st)
		}
		mustContain(t, "mempool", body, "/tx/"+tn.poolTxs[0].TxID().String(), "/tx/"+tn.poolTxs[1].TxID().String(), "Mempool bytes by fee rate")
	})

	t.Run("search", func(t *testing.T) {
		for q, want := range map[string]string{
			"12":                           "/block/" + tn.blocks[12].BlockID().String(),
			" " + tipID + " ":              "/block/" + tipID,
			tn.payments[0].TxID().String(): "/tx/" + tn.payments[0].TxID().String(),
			tn.poolTxs[0].TxID().String():  "/tx/" + tn.poolTxs[0].TxID().String(),
			tn.otherAddr:                   "/address/" + tn.otherAddr,
			strings.ToUpper(tn.blocks[1].BlockID().String()): "/block/" + tn.blocks[1].BlockID().String(),
		} {
			st, _, h := tn.get("/search?q=" + url.QueryEscape(q))
			if st != http.StatusSeeOther || h.Get("Location") != want {
				t.Errorf("search %q: %d to %q, want %q", q, st, h.Get("Location"), want)
			}
		}
	})

	t.Run("static", func(t *testing.T) {
		for path, ct := range map[string]string{"/static/style.css": "text/css", "/static/live.js": "javascript", "/static/favicon.svg": "image/svg+xml"} {
			st, _, h := tn.get(path)
			if st != 200 || !strings.Contains(h.Get("Content-Type"), ct) {
				t.Errorf("%s: %d %q", path, st, h.Get("Content-Type"))
			}
		}
	})
}

// TestEvents: the explorer proxies the node's event stream at /events
// and the home page follows it; a backend without one gets no /events
// and a page that polls.
func TestEvents(t *testing.T) {
	tn := newTestNode(t, 2, Config{})
	_, body, _ := tn.get("/")
	mustContain(t, "home with events", body, `<body data-events="1">`)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tn.url+"/events?types=block", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	b := tn.addBlock()
	want := `"hash":"` + b.BlockID().String() + `"`
	sc := bufio.NewScanner(resp.Body)
	sawBlock := false
	for sc.Scan() {
		line := sc.Text()
		sawBlock = sawBlock || line == "event: block"
		if sawBlock && strings.HasPrefix(line, "data:") {
			if !strings.Contains(line, want) {
				t.Fatalf("block event %s, want %s", line, want)
			}
			break
		}
	}
	if !sawBlock {
		t.Fatalf("no block event: %v", sc.Err())
	}
	if st, _, _ := tn.get("/events?types=" + url.QueryEscape("<script>")); st != http.StatusBadRequest {
		t.Errorf("/events with a bad type: %d", st)
	}

	tn.startExplorer(Config{}, older{tn})
	_, body, _ = tn.get("/")
	if strings.Contains(body, `data-events="1"`) {
		t.Error("home page offers events without a stream")
	}
	if st, _, _ := tn.get("/events"); st != http.StatusNotFound {
		t.Errorf("/events without a stream: %d", st)
	}
}

// counting is the real server, counting calls by method.
type counting struct {
	*testNode
	mu    sync.Mutex
	calls map[string]int
}

func (c *counting) CallPublic(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	c.mu.Lock()
	c.calls[method]++
	c.mu.Unlock()
	return c.rpc.CallPublic(ctx, method, params...)
}

func (c *counting) take(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.calls[method]
	c.calls[method] = 0
	return n
}

// TestHomeAsksOnlyForNewBlocks: the home page's block rows are cached by
// hash, so a second render asks for no header and a new block for one.
func TestHomeAsksOnlyForNewBlocks(t *testing.T) {
	tn := newTestNode(t, 70, Config{})
	c := &counting{testNode: tn, calls: map[string]int{}}
	tn.startExplorer(Config{}, c)
	for i, want := range []int{chartBlocks + 1, 0} {
		if st, _, _ := tn.get("/"); st != 200 {
			t.Fatalf("home: %d", st)
		}
		if got := c.take("getblockheader"); got != want {
			t.Errorf("render %d: %d getblockheader calls, want %d", i, got, want)
		}
	}
	tn.addBlock()
	_, body, _ := tn.get("/")
	if got := c.take("getblockheader"); got != 1 {
		t.Errorf("after a new block: %d getblockheader calls, want 1", got)
	}
	tip, _ := tn.tip()
	mustContain(t, "home after a block", body, `data-tip="`+tip.BlockID().String()+`"`)
}

// TestPoolScannedOncePerSecond: however many pages show the pool, the
// explorer reads the pool's entries at most once per poolScanTTL.
func TestPoolScannedOncePerSecond(t *testing.T) {
	tn := newTestNode(t, 3, Config{})
	c := &counting{testNode: tn, calls: map[string]int{}}
	var mu sync.Mutex
	now := time.Unix(1_900_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tn.startExplorer(Config{Now: clock}, c)
	for _, path := range []string{"/", "/mempool", "/", "/mempool"} {
		if st, _, _ := tn.get(path); st != 200 {
			t.Fatalf("%s: %d", path, st)
		}
	}
	if got := c.take("getrawmempool"); got != 1 {
		t.Errorf("%d pool scans within a second, want 1", got)
	}
	mu.Lock()
	now = now.Add(poolScanTTL)
	mu.Unlock()
	_, body, _ := tn.get("/mempool")
	if got := c.take("getrawmempool"); got != 1 {
		t.Errorf("%d pool scans after a second, want 1", got)
	}
	mustContain(t, "mempool", body, "/tx/"+tn.poolTxs[0].TxID().String())
}

// TestStreamsPerClient: one client holds at most MaxStreams event streams
// at once, so it cannot take the node's subscriptions from everyone else.
func TestStreamsPerClient(t *testing.T) {
	tn := newTestNode(t, 1, Config{})
	tn.startExplorer(Config{MaxStreams: 2}, tn.rpc)
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tn.url+"/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return resp, cancel
	}
	var held []context.CancelFunc
	for i := 0; i < 2; i++ {
		resp, cancel := open()
		defer resp.Body.Close()
		held = append(held, cancel)
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
	}
	resp, cancel := open()
	resp.Body.Close()
	cancel()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third stream: %d, want 429", resp.StatusCode)
	}
	held[0]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, cancel := open()
		st := resp.StatusCode
		if st == 200 {
			defer resp.Body.Close()
			defer cancel()
			break
		}
		resp.Body.Close()
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream does not free its place: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range held[1:] {
		c()
	}
}
