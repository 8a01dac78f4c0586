package explorer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"tally/internal/atomicfile"
	"tally/rpc"
)

// Defaults for Config fields left zero: the public RPC listener's.
const (
	DefaultRate          = rpc.DefaultPublicRate
	DefaultBurst         = rpc.DefaultPublicBurst
	DefaultMaxConcurrent = 16
	DefaultMaxConns      = rpc.DefaultPublicMaxConns
	// DefaultMaxStreams bounds each client's open /events streams, so
	// that one client cannot take the node's event subscriptions.
	DefaultMaxStreams = 4
	// DefaultPageTimeout bounds the calls behind one page.
	DefaultPageTimeout = 10 * time.Second
)

// Config configures a Server.
type Config struct {
	// Listen is the address to serve on (host:port; port 0 picks one).
	Listen string
	// AddrFile, if set, is where Listen writes the chosen address
	// (<datadir>/explorer.addr).
	AddrFile string
	// Rate and Burst are each client's request budget: Rate requests a
	// second, Burst at once.
	Rate  float64
	Burst int
	// MaxConcurrent bounds the pages rendered at once; MaxConns the open
	// connections.
	MaxConcurrent int
	MaxConns      int
	// MaxStreams bounds each client's open /events streams.
	MaxStreams int
	// PageTimeout bounds the work behind one page.
	PageTimeout time.Duration
	// Logger receives errors (default: discarded).
	Logger *slog.Logger
	// Now is the clock for "time since" (default time.Now).
	Now func() time.Time
}

// Server is the explorer's HTTP server.
type Server struct {
	cfg    Config
	d      data
	events EventStream // nil: the home page polls
	// Facts of blocks that never change, for the home page.
	headers *blockCache[blockRow]
	stats   *blockCache[blockStats]
	log     *slog.Logger
	now     func() time.Time
	limiter *rpc.RateLimiter
	sem     chan struct{}
	pages   *pages
	handler http.Handler

	streamsMu sync.Mutex
	streams   map[string]int // open /events streams by client

	poolMu sync.Mutex
	pool   *poolScan // the last scan of the pool

	mu      sync.Mutex
	ln      net.Listener
	netName string // the network's name, once known
}

// New returns a server reading from b. If b is also an EventStream, the
// explorer serves it at /events and the home page follows it.
func New(cfg Config, b Backend) (*Server, error) {
	if b == nil {
		return nil, errors.New("explorer: no backend")
	}
	if cfg.Listen == "" {
		return nil, errors.New("explorer: no listen address")
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.PageTimeout <= 0 {
		cfg.PageTimeout = DefaultPageTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:     cfg,
		d:       data{b},
		log:     cfg.Logger,
		now:     cfg.Now,
		limiter: rpc.NewRateLimiter(cfg.Rate, cfg.Burst),
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		headers: newBlockCache[blockRow](4 * chartBlocks),
		stats:   newBlockCache[blockStats](4 * feeChartBlocks),
		streams: make(map[string]int),
	}
	s.events, _ = b.(EventStream)
	p, err := newPages()
	if err != nil {
		return nil, err
	}
	s.pages = p
	s.handler = s.guard(s.routes())
	return s, nil
}

// Handler returns the explorer's HTTP handler with every guard (rate
// limit, methods, concurrency, timeouts) in place.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen opens the listener and writes AddrFile; Run calls it if the
// caller did not, so that a node can report a bad address before it
// starts anything else.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("explorer: listen on %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.AddrFile != "" {
		if err := atomicfile.Write(s.cfg.AddrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("explorer: write %s: %w", s.cfg.AddrFile, err)
		}
	}
	s.ln = ln
	return nil
}

// Addr returns the address the explorer listens on, once listening.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx ends, then stops the listener and waits (a few
// seconds at most) for pages being rendered.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.log.Info("explorer listening", "addr", "http://"+ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(rpc.LimitListener(ln, s.cfg.MaxConns)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("explorer: %w", err)
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// maxQuery bounds a request's query string.
const maxQuery = 512

// guard wraps h with what every request goes through: security headers,
// the method check, the client's rate limit, a bound on pages rendered at
// once, a deadline, and recovery from a panic.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			hdr.Set("Allow", "GET, HEAD")
			s.plain(w, http.StatusMethodNotAllowed, "the explorer is read-only: use GET")
			return
		}
		if !s.limiter.Allow(r.RemoteAddr) {
			hdr.Set("Retry-After", "1")
			s.plain(w, http.StatusTooManyRequests, fmt.Sprintf("too many requests: at most %g a second per client", s.cfg.Rate))
			return
		}
		if len(r.URL.RawQuery) > maxQuery || len(r.URL.Path) > maxQuery {
			s.plain(w, http.StatusRequestURITooLong, "the address is too long")
			return
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("explorer panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				s.plain(w, http.StatusInternalServerError, "internal error")
			}
		}()
		if r.URL.Path == "/events" {
			// A long-lived stream: it holds no rendering slot, but a
			// client may hold only a few.
			key := rpc.ClientKey(r.RemoteAddr)
			if !s.openStream(key) {
				hdr.Set("Retry-After", "5")
				s.plain(w, http.StatusTooManyRequests, fmt.Sprintf("too many event streams: at most %d per client", s.cfg.MaxStreams))
				return
			}
			defer s.closeStream(key)
			h.ServeHTTP(w, r)
			return
		}
		timer := time.NewTimer(2 * time.Second)
		select {
		case s.sem <- struct{}{}:
			timer.Stop()
			defer func() { <-s.sem }()
		case <-timer.C:
			hdr.Set("Retry-After", "1")
			s.plain(w, http.StatusServiceUnavailable, "busy: try again in a moment")
			return
		case <-r.Context().Done():
			timer.Stop()
			return
		}
		// A client that does not read its page must not keep the slot:
		// the write has a deadline (the server has none, for /events).
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.cfg.PageTimeout + 10*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// plain writes a short text answer (for refusals that render no page).
func (s *Server) plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// openStream counts a client's new /events stream if it has fewer than
// MaxStreams open.
func (s *Server) openStream(key string) bool {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streams[key] >= s.cfg.MaxStreams {
		return false
	}
	s.streams[key]++
	return true
}

func (s *Server) closeStream(key string) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streams[key]--; s.streams[key] <= 0 {
		delete(s.streams, key)
	}
}
