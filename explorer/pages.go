package explorer

import (
	"bytes"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tally/wallet"
	"tally/wire"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"home", "block", "tx", "proof", "address", "mempool", "error"}

// pages holds the parsed templates.
type pages struct {
	byName map[string]*template.Template
	static http.Handler
}

func newPages() (*pages, error) {
	p := &pages{byName: make(map[string]*template.Template)}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("explorer: template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	p.static = http.FileServer(http.FS(sub))
	return p, nil
}

// view is what every page's template gets.
type view struct {
	Title   string
	Network string
	Query   string // the search box's text
	Live    bool   // load the live-update script
	Events  bool   // the script may follow /events
	Now     int64  // unix seconds, for "time since"
	Body    any
}

// render executes page's template into a buffer first, so that a
// template error becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, entry string, v view) {
	v.Now = s.now().Unix()
	if v.Network == "" {
		v.Network = s.network(r)
	}
	var buf bytes.Buffer
	if err := s.pages.byName[page].ExecuteTemplate(&buf, entry, v); err != nil {
		s.log.Error("explorer template", "page", page, "err", err)
		s.plain(w, http.StatusInternalServerError, "internal error rendering the page")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// errView is the body of the error page.
type errView struct {
	Status  int
	Heading string
	Message string
}

// fail renders the error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, heading, msg string, query string) {
	s.render(w, r, status, "error", "layout", view{Title: heading, Query: query, Body: errView{status, heading, msg}})
}

// failErr renders the error page for a failed call: not found, still
// loading, or our own fault.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case notFound(err):
		s.fail(w, r, http.StatusNotFound, "Not found", what+" was not found on this node.", "")
	case rpcCode(err) == -28:
		s.fail(w, r, http.StatusServiceUnavailable, "Still loading", "The node is still building its indexes; try again in a moment.", "")
	case r.Context().Err() != nil:
		s.fail(w, r, http.StatusServiceUnavailable, "Timed out", "The page took too long to build; try again.", "")
	default:
		s.log.Error("explorer page", "path", r.URL.Path, "err", err)
		s.fail(w, r, http.StatusInternalServerError, "Error", "The node could not answer: "+err.Error(), "")
	}
}

// network returns the network's name (asked once).
func (s *Server) network(r *http.Request) string {
	s.mu.Lock()
	n := s.netName
	s.mu.Unlock()
	if n != "" {
		return n
	}
	ci, err := s.d.chainInfo(r.Context())
	if err != nil {
		return ""
	}
	s.mu.Lock()
	s.netName = ci.Chain
	s.mu.Unlock()
	return ci.Chain
}

// Input checks. Each returns ok false for text that is not of its form.

// parseHash reads 64 hex digits (either case).
func parseHash(s string) (wire.Hash, bool) {
	var h wire.Hash
	if len(s) != 64 {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// parseHeight reads a block height: 1 to 19 ASCII digits.
func parseHeight(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// maxAddressLen bounds an address before it is sent to validateaddress.
const maxAddressLen = 100

// plausibleAddress checks an address's length and alphabet (bech32m:
// ASCII letters and digits, one separator); validateaddress judges the
// rest.
func plausibleAddress(s string) bool {
	if len(s) < 8 || len(s) > maxAddressLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// maxPage bounds a page number before anything is computed from it.
const maxPage = 1_000_000

// query checks r's query: only the allowed keys, each at most once. It
// returns the values and, if the query is bad, a message for a 400.
func query(r *http.Request, allowed ...string) (map[string]string, string) {
	vals := r.URL.Query()
	out := make(map[string]string, len(vals))
	for k, v := range vals {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, fmt.Sprintf("unknown parameter %.32q", k)
		}
		if len(v) != 1 {
			return nil, fmt.Sprintf("parameter %.32q given more than once", k)
		}
		out[k] = v[0]
	}
	return out, ""
}

// pageParam reads ?page= (default 1): 1 to maxPage.
func pageParam(q map[string]string) (int, string) {
	s, ok := q["page"]
	if !ok {
		return 1, ""
	}
	n, ok := parseHeight(s)
	if !ok || n < 1 || n > maxPage {
		return 0, fmt.Sprintf("page must be a number from 1 to %d", maxPage)
	}
	return int(n), ""
}

// pager is the paging state of a list.
type pager struct {
	Page, Pages int
	Base        string // the list page's path, for links
}

func (p pager) Prev() int { return p.Page - 1 }
func (p pager) Next() int {
	if p.Page >= p.Pages {
		return 0
	}
	return p.Page + 1
}

// Template helpers.
var funcs = template.FuncMap{
	"amount": func(v uint64) string { return wallet.FormatAmount(v) },
	"short": func(h wire.Hash) string {
		s := h.String()
		return s[:10] + "…" + s[len(s)-10:]
	},
	"shortstr": func(s string) string {
		if len(s) <= 24 {
			return s
		}
		return s[:12] + "…" + s[len(s)-10:]
	},
	"num":  func(v any) string { return group(fmt.Sprint(v)) },
	"utc":  func(t uint64) string { return time.Unix(int64(t), 0).UTC().Format("2006-01-02 15:04:05 UTC") },
	"ago":  func(now int64, t uint64) string { return ago(now - int64(t)) },
	"rate": func(fee uint64, size int) string { return feeRate(fee, size) },
	"f2":   func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"deref": func(p *uint64) uint64 {
		if p == nil {
			return 0
		}
		return *p
	},
	"derefi": func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	},
	"deref64": func(p *wire.Hash) wire.Hash {
		if p == nil {
			return wire.Hash{}
		}
		return *p
	},
	"add":   func(a, b int) int { return a + b },
	"utc64": func(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05 UTC") },
	"ago64": func(now, t int64) string { return ago(now - t) },
}

// group puts thousands separators in a decimal integer.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if len(s) <= 4 || strings.ContainsAny(s, ".e") {
		if neg {
			return "-" + s
		}
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ago says how long ago something happened, as live.js does. A block
// time a little ahead of our clock (allowed by the rules) is "just now".
func ago(s int64) string {
	switch {
	case s < 0:
		return "just now"
	case s < 60:
		return strconv.FormatInt(s, 10) + " s ago"
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + " min ago"
	case s < 86400:
		return strconv.FormatInt(s/3600, 10) + " h ago"
	}
	return strconv.FormatInt(s/86400, 10) + " d ago"
}

// feeRate formats fee/size in base units per byte.
func feeRate(fee uint64, size int) string {
	if size <= 0 {
		return "–"
	}
	return strconv.FormatFloat(float64(fee)/float64(size), 'f', 2, 64)
}
