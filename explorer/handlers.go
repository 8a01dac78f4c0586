package explorer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"tally/rpc/rpcjson"
	"tally/wire"
)

// Bounds on the work behind a page.
const (
	latestBlocks   = 10   // rows in the home page's table
	chartBlocks    = 60   // blocks in the interval and transaction charts
	feeChartBlocks = 30   // blocks in the fee chart (a getblockstats call each)
	txPerPage      = 25   // transactions per page of a block or an address
	maxPoolScan    = 2000 // the largest pool whose entries a page reads
	poolListed     = 50   // pool transactions listed on the mempool page
	maxListedIO    = 100  // inputs and outputs listed on a transaction page
	prevoutLookups = 25   // spent transactions looked up for a transaction page
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.homePage)
	mux.HandleFunc("GET /fragment/home", s.homeFragment)
	mux.HandleFunc("GET /api/tip", s.apiTip)
	if s.events != nil {
		mux.HandleFunc("GET /events", s.events.ServeEvents)
	}
	mux.HandleFunc("GET /block/{id}", s.blockPage)
	mux.HandleFunc("GET /tx/{txid}", s.txPage)
	mux.HandleFunc("GET /tx/{txid}/proof", s.proofPage)
	mux.HandleFunc("GET /address/{addr}", s.addressPage)
	mux.HandleFunc("GET /mempool", s.mempoolPage)
	mux.HandleFunc("GET /search", s.search)
	mux.Handle("GET /static/", http.StripPrefix("/static", s.staticFiles()))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.", "")
	})
	return mux
}

func (s *Server) staticFiles() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		s.pages.static.ServeHTTP(w, r)
	})
}

// noQuery answers 400 if r has any query parameter, for pages that take
// none.
func (s *Server) noQuery(w http.ResponseWriter, r *http.Request) bool {
	if _, bad := query(r); bad != "" {
		s.fail(w, r, http.StatusBadRequest, "Bad request", bad, "")
		return false
	}
	return true
}

// pageOnly reads the only parameter of a list, ?page=, and answers 400
// itself when the query is bad.
func (s *Server) pageOnly(w http.ResponseWriter, r *http.Request) (int, bool) {
	q, bad := query(r, "page")
	page := 0
	if bad == "" {
		page, bad = pageParam(q)
	}
	if bad != "" {
		s.fail(w, r, http.StatusBadRequest, "Bad request", bad, "")
		return 0, false
	}
	return page, true
}

// homeView is the home page's live part.
type homeView struct {
	Info      rpcjson.BlockchainInfo
	Blocks    []blockRow
	Pool      rpcjson.MempoolInfo
	FeeHist   template.HTML
	PoolNote  string
	Intervals template.HTML
	TxChart   template.HTML
	FeeChart  template.HTML
}

// blockRow is a row of the latest blocks.
type blockRow struct {
	Height   uint64
	Hash     wire.Hash
	Time     uint64
	NTx      int
	Prev     wire.Hash
	Interval int64 // seconds since the previous block
}

func (s *Server) homeData(ctx context.Context) (homeView, error) {
	var v homeView
	var err error
	if v.Info, err = s.d.chainInfo(ctx); err != nil {
		return v, err
	}
	// Walk back from the tip by hash so that the list is one chain even
	// if the tip moves meanwhile. Rows hold only what a block's hash
	// fixes, so they are cached.
	var rows []blockRow
	id := v.Info.BestBlockHash
	for len(rows) < chartBlocks+1 {
		row, ok := s.headers.get(id)
		if !ok {
			h, err := s.d.header(ctx, id)
			if err != nil {
				return v, err
			}
			row = blockRow{Height: h.Height, Hash: h.Hash, Time: h.Time, NTx: h.NTx}
			if h.PreviousBlockHash != nil {
				row.Prev = *h.PreviousBlockHash
			}
			s.headers.put(id, row)
		}
		rows = append(rows, row)
		if row.Height == 0 {
			break
		}
		id = row.Prev
	}
	for i := range rows {
		if i+1 < len(rows) {
			rows[i].Interval = int64(rows[i].Time) - int64(rows[i+1].Time)
		}
	}
	v.Blocks = rows[:min(latestBlocks, len(rows))]
	charted := rows[:min(chartBlocks, max(len(rows)-1, 1))]
	v.Intervals = intervalChart(charted)
	v.TxChart = txChart(charted)
	if v.FeeChart, err = s.feeChart(ctx, charted[:min(feeChartBlocks, len(charted))]); err != nil {
		return v, err
	}
	if v.Pool, err = s.d.mempoolInfo(ctx); err != nil {
		return v, err
	}
	v.FeeHist, v.PoolNote, _, err = s.scanPool(ctx, v.Pool)
	return v, err
}

// feeChart draws the fees of blocks (newest first) from getblockstats,
// or nothing from a backend without it.
func (s *Server) feeChart(ctx context.Context, rows []blockRow) (template.HTML, error) {
	fees := make([]bar, 0, len(rows))
	for _, r := range slices.Backward(rows) {
		st, ok := s.stats.get(r.Hash)
		if !ok {
			var err error
			if st, ok, err = s.d.blockStats(ctx, r.Hash); err != nil || !ok {
				return "", err
			}
			s.stats.put(r.Hash, st)
		}
		fees = append(fees, bar{Value: float64(st.TotalFee), Label: fmt.Sprint(r.Height),
			Title: fmt.Sprintf("block %d: %s in fees", r.Height, group(fmt.Sprint(st.TotalFee))), Href: "/block/" + r.Hash.String()})
	}
	return barChart("Fees per block (base units)", fees, 0), nil
}

// poolScanTTL is how long a scan of the pool serves pages: at most one
// scan a second, however many people look.
const poolScanTTL = time.Second

// poolScan is what pages show of the pool, from one getrawmempool call.
type poolScan struct {
	at   time.Time
	hist template.HTML
	rows []poolRow // newest first, at most poolListed
}

// scanPool reads the pool's entries if the pool is small enough and
// returns the fee-rate histogram and the newest entries, or a note saying
// why there are none. Concurrent pages wait for one scan, and a scan
// serves for poolScanTTL.
func (s *Server) scanPool(ctx context.Context, mi rpcjson.MempoolInfo) (template.HTML, string, []poolRow, error) {
	if mi.Size == 0 {
		return "", "The mempool is empty.", nil, nil
	}
	if mi.Size > maxPoolScan {
		return "", fmt.Sprintf("The pool holds more than %s transactions: the explorer charts pools of up to that size.", group(fmt.Sprint(maxPoolScan))), nil, nil
	}
	s.poolMu.Lock()
	defer s.poolMu.Unlock()
	now := s.now()
	if c := s.pool; c != nil && now.Sub(c.at) < poolScanTTL && now.Sub(c.at) >= 0 {
		return c.hist, "", c.rows, nil
	}
	entries, err := s.d.mempoolEntries(ctx)
	if err != nil {
		return "", "", nil, err
	}
	rows := make([]poolRow, 0, len(entries))
	for id, e := range entries {
		rows = append(rows, poolRow{TxID: id, MempoolEntry: e})
	}
	slices.SortFunc(rows, func(a, b poolRow) int {
		if c := cmp.Compare(b.Time, a.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.TxID[:], b.TxID[:])
	})
	s.pool = &poolScan{at: now, hist: feeHistogram(rows), rows: rows[:min(poolListed, len(rows))]}
	return s.pool.hist, "", s.pool.rows, nil
}

// poolRow is a pool transaction.
type poolRow struct {
	TxID wire.Hash
	rpcjson.MempoolEntry
}

func (s *Server) homePage(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	v, err := s.homeData(r.Context())
	if err != nil {
		s.failErr(w, r, "The tip", err)
		return
	}
	s.render(w, r, http.StatusOK, "home", "layout", view{Title: "Latest blocks", Live: true, Events: s.events != nil, Body: v})
}

// homeFragment is the home page's live part alone, which live.js swaps in
// when the tip moves.
func (s *Server) homeFragment(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	v, err := s.homeData(r.Context())
	if err != nil {
		s.failErr(w, r, "The tip", err)
		return
	}
	s.render(w, r, http.StatusOK, "home", "live", view{Body: v})
}

// apiTip answers {"height", "hash", "time"} for live.js to poll.
func (s *Server) apiTip(w http.ResponseWriter, r *http.Request) {
	if _, bad := query(r); bad != "" {
		http.Error(w, bad, http.StatusBadRequest)
		return
	}
	ci, err := s.d.chainInfo(r.Context())
	if err != nil {
		http.Error(w, "the node could not answer", http.StatusServiceUnavailable)
		return
	}
	body, _ := json.Marshal(struct {
		Height uint64    `json:"height"`
		Hash   wire.Hash `json:"hash"`
		Time   uint64    `json:"time"`
	}{ci.Blocks, ci.BestBlockHash, ci.Time})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(body, '\n'))
}

// blockView is the block page's body.
type blockView struct {
	B     block
	Stats *blockStats
	Txs   []txRow
	Pager pager
	First int // position of the page's first transaction
}

// txRow is a transaction in a list.
type txRow struct {
	TxID     wire.Hash
	Coinbase bool
	Ins      int
	Outs     int
	Out      uint64
	Size     int
	Fee      *uint64
}

func rowOf(t *tx) txRow {
	r := txRow{TxID: t.TxID, Coinbase: t.Coinbase, Ins: len(t.Vin), Outs: len(t.Vout), Size: t.Size, Fee: t.Fee}
	for _, o := range t.Vout {
		r.Out += o.Value
	}
	return r
}

func (s *Server) blockPage(w http.ResponseWriter, r *http.Request) {
	page, ok := s.pageOnly(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	idText := r.PathValue("id")
	var id wire.Hash
	if h, ok := parseHash(idText); ok {
		id = h
	} else if height, ok := parseHeight(idText); ok {
		var err error
		if id, err = s.d.blockHash(ctx, height); err != nil {
			s.failErr(w, r, fmt.Sprintf("A block at height %d", height), err)
			return
		}
	} else {
		s.fail(w, r, http.StatusBadRequest, "Not a block", "A block is named by its hash (64 hex digits) or its height.", "")
		return
	}
	b, err := s.d.block(ctx, id)
	if err != nil {
		s.failErr(w, r, "Block "+id.String(), err)
		return
	}
	v := blockView{B: b, Pager: pager{Page: page, Pages: max(1, (len(b.Tx)+txPerPage-1)/txPerPage), Base: "/block/" + id.String()}}
	if page > v.Pager.Pages {
		s.fail(w, r, http.StatusNotFound, "No such page", fmt.Sprintf("The last page of this block is page %d.", v.Pager.Pages), "")
		return
	}
	v.First = (page - 1) * txPerPage
	for _, txid := range b.Tx[v.First:min(len(b.Tx), v.First+txPerPage)] {
		t, err := s.d.tx(ctx, txid, &id)
		if err != nil {
			s.failErr(w, r, "Transaction "+txid.String(), err)
			return
		}
		v.Txs = append(v.Txs, rowOf(&t))
	}
	if st, ok, err := s.d.blockStats(ctx, id); err != nil {
		s.log.Warn("explorer: getblockstats", "block", id, "err", err)
	} else if ok {
		v.Stats = &st
	}
	s.render(w, r, http.StatusOK, "block", "layout", view{Title: fmt.Sprintf("Block %d", b.Height), Body: v})
}

// txView is the transaction page's body.
type txView struct {
	TxID      wire.Hash
	T         *tx // nil when the transaction is gone
	Ins       []txIn
	MoreIns   int
	Outs      []rpcjson.TxOutEntry
	MoreOuts  int
	InTotal   uint64 // when every prevout is known
	OutTotal  uint64
	Fee       *uint64
	Height    uint64
	Confirmed bool
	Status    *rpcjson.TxStatus // for a transaction not in the best chain
}

func (s *Server) txPage(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	txid, ok := parseHash(r.PathValue("txid"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, "Not a transaction id", "A transaction is named by its id: 64 hex digits.", "")
		return
	}
	ctx := r.Context()
	v := txView{TxID: txid}
	t, err := s.d.tx(ctx, txid, nil)
	if err != nil {
		if !notFound(err) {
			s.failErr(w, r, "Transaction "+txid.String(), err)
			return
		}
		// Not in the pool or the chain: say where it went, if the node
		// remembers.
		st, serr := s.d.txStatus(ctx, txid)
		if serr != nil || st.Status == "unknown" {
			s.fail(w, r, http.StatusNotFound, "Not found", "Transaction "+txid.String()+" is not in the chain or the mempool, and this node has no record of it.", "")
			return
		}
		v.Status = &st
		s.render(w, r, http.StatusOK, "tx", "layout", view{Title: "Transaction", Body: v})
		return
	}
	if err := s.d.prevouts(ctx, &t, prevoutLookups); err != nil {
		s.failErr(w, r, "An input's transaction", err)
		return
	}
	v.T = &t
	v.Ins, v.MoreIns = t.Vin[:min(len(t.Vin), maxListedIO)], max(0, len(t.Vin)-maxListedIO)
	v.Outs, v.MoreOuts = t.Vout[:min(len(t.Vout), maxListedIO)], max(0, len(t.Vout)-maxListedIO)
	for _, o := range t.Vout {
		v.OutTotal += o.Value
	}
	v.Fee = t.Fee
	if v.Fee != nil {
		v.InTotal = v.OutTotal + *v.Fee
	}
	if t.BlockHash != nil && t.Confirmations != nil && *t.Confirmations > 0 {
		h, err := s.d.header(ctx, *t.BlockHash)
		if err != nil {
			s.failErr(w, r, "The transaction's block", err)
			return
		}
		v.Height, v.Confirmed = h.Height, true
	} else if st, err := s.d.txStatus(ctx, txid); err == nil {
		v.Status = &st
		if v.Fee == nil && st.Fee != nil {
			v.Fee = st.Fee
			v.InTotal = v.OutTotal + *st.Fee
		}
	}
	s.render(w, r, http.StatusOK, "tx", "layout", view{Title: "Transaction", Body: v})
}

// proofView is the Merkle proof page's body.
type proofView struct {
	TxID wire.Hash
	P    rpcjson.MerkleProofResult
	JSON string
}

func (s *Server) proofPage(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	txid, ok := parseHash(r.PathValue("txid"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, "Not a transaction id", "A transaction is named by its id: 64 hex digits.", "")
		return
	}
	p, err := s.d.merkleProof(r.Context(), txid)
	if err != nil {
		s.failErr(w, r, "A confirmed transaction "+txid.String(), err)
		return
	}
	js, _ := json.MarshalIndent(p, "", "  ")
	s.render(w, r, http.StatusOK, "proof", "layout", view{Title: "Merkle proof", Body: proofView{TxID: txid, P: p, JSON: string(js)}})
}

// addrView is the address page's body.
type addrView struct {
	Addr  string
	Bal   rpcjson.AddressBalance
	Rows  []rpcjson.AddressHistoryEntry
	After string // this page's cursor ("" for the first page)
	Next  string // the next page's cursor ("" on the last page)
}

// maxCursor bounds an address history cursor ("height:txid").
const maxCursor = 20 + 1 + 64

// plausibleCursor checks a cursor's length and alphabet; the RPC judges
// the rest.
func plausibleCursor(s string) bool {
	if len(s) > maxCursor {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':') {
			return false
		}
	}
	return true
}

func (s *Server) addressPage(w http.ResponseWriter, r *http.Request) {
	q, bad := query(r, "after")
	after, given := q["after"]
	if bad == "" && given && (after == "" || !plausibleCursor(after)) {
		bad = "after must be the cursor of a history page (height:txid)"
	}
	if bad != "" {
		s.fail(w, r, http.StatusBadRequest, "Bad request", bad, "")
		return
	}
	ctx := r.Context()
	text := r.PathValue("addr")
	if !plausibleAddress(text) {
		s.fail(w, r, http.StatusBadRequest, "Not an address", "An address is 8 to 100 letters and digits.", "")
		return
	}
	chk, err := s.d.validateAddress(ctx, text)
	if err != nil {
		s.failErr(w, r, "The address", err)
		return
	}
	if !chk.IsValid {
		s.fail(w, r, http.StatusBadRequest, "Not an address of this network", chk.Error, "")
		return
	}
	addr := chk.Address
	bal, err := s.d.addressBalance(ctx, addr)
	if err != nil {
		if rpcCode(err) == rpcjson.CodeInvalidParameter {
			s.fail(w, r, http.StatusServiceUnavailable, "No address index", "This node keeps no address index (start it with --addrindex).", "")
			return
		}
		s.failErr(w, r, "The address", err)
		return
	}
	page, next, err := s.d.addressHistory(ctx, addr, after, txPerPage)
	if err != nil {
		if rpcCode(err) == rpcjson.CodeInvalidParameter {
			s.fail(w, r, http.StatusBadRequest, "Bad request", "after must be the cursor of a history page (height:txid).", "")
			return
		}
		s.failErr(w, r, "The address's history", err)
		return
	}
	v := addrView{Addr: addr, Bal: bal, Rows: page.History, After: after, Next: next}
	s.render(w, r, http.StatusOK, "address", "layout", view{Title: "Address " + addr, Body: v})
}

// mempoolView is the mempool page's body.
type mempoolView struct {
	Info    rpcjson.MempoolInfo
	FeeHist template.HTML
	Note    string
	Rows    []poolRow
}

func (s *Server) mempoolPage(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	ctx := r.Context()
	mi, err := s.d.mempoolInfo(ctx)
	if err != nil {
		s.failErr(w, r, "The mempool", err)
		return
	}
	v := mempoolView{Info: mi}
	if v.FeeHist, v.Note, v.Rows, err = s.scanPool(ctx, mi); err != nil {
		s.failErr(w, r, "The mempool", err)
		return
	}
	s.render(w, r, http.StatusOK, "mempool", "layout", view{Title: "Mempool", Body: v})
}

// maxSearch bounds the search text.
const maxSearch = 128

// search sends a height, block hash, txid or address to its page.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q, bad := query(r, "q")
	if bad != "" {
		s.fail(w, r, http.StatusBadRequest, "Bad request", bad, "")
		return
	}
	text := strings.TrimSpace(q["q"])
	shown := text
	if len(shown) > maxSearch {
		shown = shown[:maxSearch]
	}
	malformed := func(msg string) {
		s.fail(w, r, http.StatusBadRequest, "Nothing to look for", msg, shown)
	}
	missing := func(msg string) {
		s.fail(w, r, http.StatusNotFound, "Not found", msg, shown)
	}
	switch {
	case text == "":
		malformed("Type a block height, a block hash, a transaction id or an address.")
		return
	case len(text) > maxSearch:
		malformed(fmt.Sprintf("The search text is longer than %d characters: no height, hash or address is that long.", maxSearch))
		return
	}
	ctx := r.Context()
	if h, ok := parseHash(text); ok {
		if _, err := s.d.header(ctx, h); err == nil {
			http.Redirect(w, r, "/block/"+h.String(), http.StatusSeeOther)
			return
		} else if !notFound(err) {
			s.failErr(w, r, "The block", err)
			return
		}
		if _, err := s.d.tx(ctx, h, nil); err == nil {
			http.Redirect(w, r, "/tx/"+h.String(), http.StatusSeeOther)
			return
		} else if !notFound(err) {
			s.failErr(w, r, "The transaction", err)
			return
		}
		if st, err := s.d.txStatus(ctx, h); err == nil && st.Status != "unknown" {
			http.Redirect(w, r, "/tx/"+h.String(), http.StatusSeeOther)
			return
		}
		missing("No block or transaction on this node has the id " + h.String() + ".")
		return
	}
	if height, ok := parseHeight(text); ok {
		id, err := s.d.blockHash(ctx, height)
		if err != nil {
			if notFound(err) {
				missing(fmt.Sprintf("There is no block at height %d yet.", height))
				return
			}
			s.failErr(w, r, "The block", err)
			return
		}
		http.Redirect(w, r, "/block/"+id.String(), http.StatusSeeOther)
		return
	}
	if plausibleAddress(text) {
		chk, err := s.d.validateAddress(ctx, text)
		if err != nil {
			s.failErr(w, r, "The address", err)
			return
		}
		if chk.IsValid {
			http.Redirect(w, r, "/address/"+chk.Address, http.StatusSeeOther)
			return
		}
		malformed("Not a height, a hash or an address of this network: " + chk.Error + ".")
		return
	}
	malformed("Not a block height, a block hash, a transaction id (64 hex digits) or an address.")
}
