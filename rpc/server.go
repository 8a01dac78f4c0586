package rpc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"tally/consensus"
	"tally/internal/atomicfile"
	"tally/rpc/rpcjson"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxBodyBytes        = 4 << 20
	DefaultPublicMaxBodyBytes  = 256 << 10
	DefaultMaxBatch            = 1000
	DefaultPublicMaxBatch      = 100
	DefaultPublicRate          = 50  // requests per second per client
	DefaultPublicBurst         = 100 // requests
	DefaultPublicMaxConcurrent = 64
	DefaultBlockCacheBytes     = 64 << 20
	DefaultMaxResponseBytes    = 256 << 20
	DefaultPublicMaxResponse   = 16 << 20
	DefaultPublicMaxConns      = 1024
)

// Config configures a Server.
type Config struct {
	// Params are the network's parameters (network name, address
	// prefix, size limits).
	Params *consensus.Params
	// Listen is the private listener's address (default
	// 127.0.0.1:<rpc_port>); port 0 picks a free port (see Addr).
	Listen string
	// PublicListen, if set, opens the public listener (--rpc-public):
	// read-only methods, no authentication, rate limited.
	PublicListen string
	// CookieDir is where Start writes the cookie file (the data
	// directory); empty for no cookie.
	CookieDir string
	// User and Password are optional fixed credentials (--rpc-user,
	// --rpc-password). At least the cookie or these must be set.
	User, Password string
	// Dev allows generatetoaddress (dev and test networks).
	Dev bool
	// Synced reports whether the node is synced (tip recent, peers
	// connected) and if not why; /healthz and getblockchaininfo use it.
	// Nil means always synced.
	Synced func() (ok bool, reason string)
	// OnRequest, if set, is called with each call's method name
	// ("unknown" for names not in the table), for metrics.
	OnRequest func(method string)
	// Logger receives request and error logs (default: discarded).
	Logger *slog.Logger

	// Limits; zero means the default above.
	MaxBodyBytes        int64
	PublicMaxBodyBytes  int64
	MaxBatch            int
	PublicMaxBatch      int
	PublicRate          float64 // tokens per second per client
	PublicBurst         int
	PublicMaxConcurrent int
	BlockCacheBytes     int
	// MaxResponseBytes bounds a batch's response: once it is reached
	// the remaining calls are not run and get an error. The public
	// listener also refuses a single result above its bound.
	MaxResponseBytes       int
	PublicMaxResponseBytes int
	// PublicMaxConns bounds the public listener's open connections.
	PublicMaxConns int
	// EventWriteTimeout and EventHeartbeat tune /events (defaults
	// DefaultEventWriteTimeout and DefaultEventHeartbeat).
	EventWriteTimeout time.Duration
	EventHeartbeat    time.Duration

	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Deps are the node parts the handlers use. Chain and Mempool are
// required (or all of Deps may come later, see Ready); the rest are
// optional (nil: the methods that need them answer with an error saying
// what is missing).
type Deps struct {
	Chain     Chain
	Mempool   Mempool
	Miner     Miner
	Peers     Peers
	TxIndex   TxIndex
	AddrIndex AddrIndex
	Relay     Relay
	// rpcjson.TxStatus records why transactions left or never entered the pool
	// (gettxstatus). Nil: New makes one (see Server.TxStatus).
	TxStatus *Recorder
	// Stop is the node's shutdown hook, called after the stop method's
	// response is written.
	Stop func()
	// Started is when the node started (uptime); default: New's time.
	Started time.Time
	// Events is the hub behind GET /events; nil: no stream (404).
	Events *EventHub
}

// Server is the JSON-RPC server.
type Server struct {
	cfg    Config
	deps   Deps
	params *consensus.Params
	log    *slog.Logger
	now    func() time.Time

	creds  [][32]byte // SHA-256 of "user:password" of each accepted credential
	cookie string     // cookie file content written by Start

	blocks   *blockCache
	tips     tipsCache
	txCounts txCounts
	limiter  *limiter
	sem      chan struct{}

	// ready is set once deps are complete (New, or Ready); until then
	// every method but warmupMethods answers -28 with status.
	ready  atomic.Bool
	status atomic.Pointer[string]
	events http.Handler
	// stopFn and startedAt are Deps.Stop and Deps.Started as given to
	// New, read by the warm-up methods while Ready may write deps.
	stopFn    func()
	startedAt time.Time
	// closing is closed when Stop begins, ending the event streams.
	closing chan struct{}
	serving sync.WaitGroup

	mu       sync.Mutex
	priv     *http.Server
	pub      *http.Server
	privAddr string
	pubAddr  string
	started  bool
	stopOnce sync.Once
}

// warmupMethods answer while the node is still loading.
var warmupMethods = map[string]bool{"help": true, "stop": true, "uptime": true}

// New checks the configuration and returns a server; Start listens. With
// deps.Chain and deps.Mempool both nil the server starts warming up: it
// listens at once, answers -28 with the status set by SetStatus, and
// serves once Ready gives it the node's parts (SPEC section 9).
func New(cfg Config, deps Deps) (*Server, error) {
	if cfg.Params == nil {
		return nil, errors.New("rpc: Config.Params is required")
	}
	warming := deps.Chain == nil && deps.Mempool == nil
	if !warming && (deps.Chain == nil || deps.Mempool == nil) {
		return nil, errors.New("rpc: Deps.Chain and Deps.Mempool are required")
	}
	if cfg.CookieDir == "" && cfg.User == "" {
		return nil, errors.New("rpc: no credentials: set a cookie directory (--datadir) or --rpc-user and --rpc-password")
	}
	if cfg.User != "" && cfg.Password == "" {
		return nil, errors.New("rpc: --rpc-user is set without --rpc-password")
	}
	if cfg.User == rpcjson.CookieUser {
		return nil, fmt.Errorf("rpc: the user name %q is reserved for the cookie", rpcjson.CookieUser)
	}
	if cfg.Listen == "" {
		cfg.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Params.RPCPort))
	}
	if cfg.MaxBodyBytes <= 0 {
		// Room for a maximum-size block as hex plus the envelope.
		cfg.MaxBodyBytes = max(DefaultMaxBodyBytes, 2*int64(cfg.Params.MaxBlockBytes)+64<<10)
	}
	if cfg.PublicMaxBodyBytes <= 0 {
		cfg.PublicMaxBodyBytes = DefaultPublicMaxBodyBytes
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.PublicMaxBatch <= 0 {
		cfg.PublicMaxBatch = DefaultPublicMaxBatch
	}
	if cfg.PublicRate <= 0 {
		cfg.PublicRate = DefaultPublicRate
	}
	if cfg.PublicBurst <= 0 {
		cfg.PublicBurst = DefaultPublicBurst
	}
	// A batch costs one token per call, so it cannot exceed the burst.
	cfg.PublicMaxBatch = min(cfg.PublicMaxBatch, cfg.PublicBurst)
	if cfg.PublicMaxConcurrent <= 0 {
		cfg.PublicMaxConcurrent = DefaultPublicMaxConcurrent
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.PublicMaxResponseBytes <= 0 {
		cfg.PublicMaxResponseBytes = DefaultPublicMaxResponse
	}
	if cfg.PublicMaxConns <= 0 {
		cfg.PublicMaxConns = DefaultPublicMaxConns
	}
	if cfg.BlockCacheBytes <= 0 {
		cfg.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:     cfg,
		params:  cfg.Params,
		log:     cfg.Logger,
		now:     cfg.Now,
		blocks:  newBlockCache(cfg.BlockCacheBytes),
		limiter: newLimiter(cfg.PublicRate, float64(cfg.PublicBurst), cfg.Now),
		sem:     make(chan struct{}, cfg.PublicMaxConcurrent),
		closing: make(chan struct{}),
	}
	if cfg.User != "" {
		s.creds = append(s.creds, sha256.Sum256([]byte(cfg.User+":"+cfg.Password)))
	}
	s.setDeps(deps)
	if warming {
		s.SetStatus("Loading the chain...")
	} else {
		s.ready.Store(true)
	}
	return s, nil
}

func (s *Server) setDeps(deps Deps) {
	if deps.TxStatus == nil {
		deps.TxStatus = NewRecorder(0, 0, s.cfg.Now)
	}
	if deps.Started.IsZero() {
		deps.Started = s.cfg.Now()
	}
	s.deps = deps
	if s.stopFn == nil && s.startedAt.IsZero() {
		s.stopFn, s.startedAt = deps.Stop, deps.Started
	}
	if deps.Events != nil {
		s.events = EventsHandler(deps.Events, s.cfg.EventWriteTimeout, s.cfg.EventHeartbeat, s.closing)
	}
}

// SetStatus sets the message of the -28 answers while warming up (as
// Core's "Loading block index...").
func (s *Server) SetStatus(msg string) { s.status.Store(&msg) }

// Ready ends the warm-up: deps (Chain and Mempool required; Stop and
// Started stay those given to New) serve every call from now on.
// It may be called once, on a server made without deps.
func (s *Server) Ready(deps Deps) error {
	if s.ready.Load() {
		return errors.New("rpc: Ready called twice, or on a server made with its deps")
	}
	if deps.Chain == nil || deps.Mempool == nil {
		return errors.New("rpc: Deps.Chain and Deps.Mempool are required")
	}
	// Stop and Started are fixed at New: the warm-up methods use them.
	deps.Stop, deps.Started = s.stopFn, s.startedAt
	s.setDeps(deps)
	s.ready.Store(true)
	return nil
}

// TxStatus returns the recorder behind gettxstatus, for the node to feed
// (mempool removals, chain events).
func (s *Server) TxStatus() *Recorder { return s.deps.TxStatus }

// Start opens the listeners, writes the cookie file and serves in the
// background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("rpc: server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("rpc: listen on %s: %w", s.cfg.Listen, err)
	}
	var pln net.Listener
	if s.cfg.PublicListen != "" {
		if pln, err = net.Listen("tcp", s.cfg.PublicListen); err != nil {
			ln.Close()
			return fmt.Errorf("rpc: public listen on %s: %w", s.cfg.PublicListen, err)
		}
	}
	if s.cfg.CookieDir != "" {
		content, err := writeCookie(s.cfg.CookieDir)
		if err != nil {
			ln.Close()
			if pln != nil {
				pln.Close()
			}
			return err
		}
		s.cookie = content
		s.creds = append(s.creds, sha256.Sum256([]byte(content)))
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	s.priv = &http.Server{
		Handler:           http.HandlerFunc(s.servePrivate),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      10 * time.Minute, // generatetoaddress may mine for a while
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
	s.privAddr = ln.Addr().String()
	s.serving.Add(1)
	go s.serve(s.priv, ln)
	if pln != nil {
		s.pub = &http.Server{
			Handler:           http.HandlerFunc(s.servePublic),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          errLog,
		}
		s.pubAddr = pln.Addr().String()
		s.serving.Add(1)
		go s.serve(s.pub, newLimitListener(pln, s.cfg.PublicMaxConns))
	}
	s.started = true
	// The node logs the addresses (once, with the cookie's path).
	return nil
}

// stopTimeout bounds how long Run waits for running calls at shutdown.
const stopTimeout = 5 * time.Second

// Run serves until ctx ends (starting the listeners if Start was not
// called), then stops: the node runs it as one of its services.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		if err := s.Start(); err != nil {
			return err
		}
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	return s.Stop(stopCtx)
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	defer s.serving.Done()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("rpc server stopped", "addr", ln.Addr().String(), "err", err)
	}
}

// Addr returns the private listener's address (host:port) once started,
// for <datadir>/rpc.addr.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.privAddr
}

// PublicAddr returns the public listener's address, or "" if there is
// none.
func (s *Server) PublicAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pubAddr
}

// CookiePath returns the cookie file's path, or "" without a cookie.
func (s *Server) CookiePath() string {
	if s.cfg.CookieDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.CookieDir, rpcjson.CookieFile)
}

// Stop stops the listeners, ends the event streams, waits for running
// requests until ctx ends, and removes the cookie file. When it returns
// no goroutine of the server is left.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	priv, pub := s.priv, s.pub
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
	s.mu.Unlock()
	defer s.serving.Wait()
	var err error
	for _, srv := range []*http.Server{priv, pub} {
		if srv == nil {
			continue
		}
		if e := srv.Shutdown(ctx); e != nil && err == nil {
			err = e
			srv.Close()
		}
	}
	if s.cookie != "" {
		path := s.CookiePath()
		if b, rerr := os.ReadFile(path); rerr == nil && string(b) == s.cookie {
			if rerr := os.Remove(path); rerr != nil && err == nil {
				err = rerr
			}
		}
	}
	return err
}

// writeCookie writes "__cookie__:<64 hex digits>" to dir/.cookie with mode
// 0600, atomically (a temporary file renamed over it).
func writeCookie(dir string) (string, error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("rpc: cookie: %w", err)
	}
	content := rpcjson.CookieUser + ":" + hex.EncodeToString(secret[:])
	if err := atomicfile.Write(filepath.Join(dir, rpcjson.CookieFile), []byte(content), 0o600); err != nil {
		return "", fmt.Errorf("rpc: write cookie: %w", err)
	}
	return content, nil
}

// authorized checks HTTP Basic credentials in constant time against each
// accepted credential.
func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	given := sha256.Sum256([]byte(user + ":" + pass))
	match := 0
	for _, c := range s.creds {
		match |= subtle.ConstantTimeCompare(given[:], c[:])
	}
	return match == 1
}

func (s *Server) servePrivate(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		s.serveHealth(w, r)
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/events" {
		s.serveEvents(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "JSON-RPC server handles only POST requests", http.StatusMethodNotAllowed)
		return
	}
	s.serveRPC(w, r, false, "")
}

func (s *Server) servePublic(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		s.serveHealth(w, r)
		return
	}
	key := clientKey(r.RemoteAddr)
	if !s.limiter.allow(key, 1) {
		s.tooMany(w)
		return
	}
	if r.URL.Path == "/events" {
		// A stream holds no slot of the concurrent-request bound; the
		// listener's connection bound and the hub's subscriber bound
		// limit streams.
		s.serveEvents(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "JSON-RPC server handles only POST requests", http.StatusMethodNotAllowed)
		return
	}
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-timer.C:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody(rpcErr(rpcjson.CodeMisc, "server busy: too many concurrent requests")))
		return
	case <-r.Context().Done():
		return
	}
	s.serveRPC(w, r, true, key)
}

func (s *Server) tooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusTooManyRequests, errorBody(rpcErr(rpcjson.CodeMisc,
		"rate limit exceeded: %g requests/s per client, burst %d", s.cfg.PublicRate, s.cfg.PublicBurst)))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// legacyStatus is the HTTP status Bitcoin Core gives a failed 1.0 call.
func legacyStatus(code int) int {
	switch code {
	case rpcjson.CodeInvalidRequest:
		return http.StatusBadRequest
	case rpcjson.CodeMethodNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// serveRPC reads, runs and answers one HTTP request of calls.
func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request, public bool, key string) {
	limit, maxBatch := s.cfg.MaxBodyBytes, s.cfg.MaxBatch
	if public {
		limit, maxBatch = s.cfg.PublicMaxBodyBytes, s.cfg.PublicMaxBatch
	}
	tooLarge := func() {
		w.Header().Set("Connection", "close")
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody(rpcErr(rpcjson.CodeInvalidRequest, "request body exceeds %d bytes", limit)))
	}
	if r.ContentLength > limit {
		tooLarge()
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge()
			return
		}
		writeJSON(w, http.StatusBadRequest, errorBody(rpcErr(rpcjson.CodeParseError, "reading the request body: %v", err)))
		return
	}
	reqs, batch, rerr := decodeRequests(body, maxBatch)
	if rerr != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(rerr))
		return
	}
	if public && len(reqs) > 1 && !s.limiter.allow(key, float64(len(reqs)-1)) {
		s.tooMany(w)
		return
	}
	var afters []func()
	out := make([]byte, 0, 512)
	status := http.StatusOK
	budget := s.cfg.MaxResponseBytes
	if public {
		budget = s.cfg.PublicMaxResponseBytes
	}
	if batch {
		out = append(out, '[')
		n := 0
		for i := range reqs {
			var res json.RawMessage
			var rerr *rpcjson.RPCError
			var after func()
			if len(out) > budget {
				rerr = rpcErr(rpcjson.CodeMisc, "not run: the batch's response reached %d bytes; split the batch", budget)
			} else {
				res, rerr, after = s.exec(r.Context(), &reqs[i], public)
			}
			if after != nil {
				afters = append(afters, after)
			}
			if reqs[i].notification() {
				continue
			}
			if n > 0 {
				out = append(out, ',')
			}
			out = appendResponse(out, &reqs[i], res, rerr)
			n++
		}
		out = append(out, ']')
		if n == 0 {
			out = nil
		}
	} else {
		res, rerr, after := s.exec(r.Context(), &reqs[0], public)
		if public && len(res) > budget {
			res, rerr = nil, rpcErr(rpcjson.CodeMisc, "the result is larger than the public interface's limit of %d bytes", budget)
		}
		if after != nil {
			afters = append(afters, after)
		}
		if reqs[0].notification() {
			out = nil
		} else {
			out = appendResponse(out, &reqs[0], res, rerr)
			if rerr != nil && !reqs[0].v2 {
				status = legacyStatus(rerr.Code)
			}
		}
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
	} else {
		writeJSON(w, status, append(out, '\n'))
	}
	for _, f := range afters {
		go f()
	}
}

// encodedResult is a handler result already encoded as JSON (hex
// strings and arrays of them, built without encoding/json's per-byte
// work); exec uses it as is.
type encodedResult []byte

// hexString encodes b as a JSON string of lowercase hex.
func hexString(b []byte) encodedResult {
	out := make([]byte, 0, 2*len(b)+2)
	out = append(out, '"')
	out = hex.AppendEncode(out, b)
	return append(out, '"')
}

// exec runs one call and returns its result or error.
func (s *Server) exec(ctx context.Context, req *request, public bool) (result json.RawMessage, rerr *rpcjson.RPCError, after func()) {
	if req.err != nil {
		return nil, req.err, nil
	}
	m := methodTable[req.method]
	if s.cfg.OnRequest != nil {
		name := "unknown"
		if m != nil {
			name = m.Name
		}
		s.cfg.OnRequest(name)
	}
	if m == nil {
		return nil, rpcErr(rpcjson.CodeMethodNotFound, "Method not found: %.64q", req.method), nil
	}
	if public && !m.Public {
		return nil, rpcErr(rpcjson.CodeMethodNotFound, "Method not found: %s is not available on the public interface", m.Name), nil
	}
	if !warmupMethods[m.Name] && !s.ready.Load() {
		return nil, s.warmupErr(), nil
	}
	args, rerr := parseParams(m, req.params)
	if rerr != nil {
		return nil, rerr, nil
	}
	c := &call{ctx: ctx, s: s, m: m, args: args, public: public}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("rpc handler panic", "method", m.Name, "panic", p, "stack", string(debug.Stack()))
			result, rerr, after = nil, rpcErr(rpcjson.CodeInternal, "internal error in %s", m.Name), nil
		}
	}()
	v, err := m.Handler(c)
	if err != nil {
		var re *rpcjson.RPCError
		if !errors.As(err, &re) {
			s.log.Error("rpc call failed", "method", m.Name, "err", err)
			re = rpcErr(rpcjson.CodeInternal, "internal error: %v", err)
		}
		return nil, re, nil
	}
	var raw []byte
	if enc, ok := v.(encodedResult); ok {
		raw = enc
	} else {
		if raw, err = json.Marshal(v); err != nil {
			s.log.Error("rpc result encoding failed", "method", m.Name, "err", err)
			return nil, rpcErr(rpcjson.CodeInternal, "internal error: encoding the result: %v", err), nil
		}
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("rpc call", "method", m.Name, "public", public, "took", time.Since(start))
	}
	return raw, nil, c.after
}

// serveEvents serves GET /events (see EventsHandler).
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody(s.warmupErr()))
		return
	}
	if s.events == nil {
		http.Error(w, "/events: this server has no event stream", http.StatusNotFound)
		return
	}
	s.events.ServeHTTP(w, r)
}

// warmupErr is the -28 answer while the node loads.
func (s *Server) warmupErr() *rpcjson.RPCError {
	msg := "Loading..."
	if p := s.status.Load(); p != nil {
		msg = *p
	}
	return rpcErr(rpcjson.CodeWarmingUp, "%s", msg)
}

// serveHealth answers GET /healthz: 200 when synced, 503 otherwise.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, append([]byte(`{"status":"loading","reason":`+strconv.Quote(s.warmupErr().Message)+`}`), '\n'))
		return
	}
	ok, reason := true, ""
	if s.cfg.Synced != nil {
		ok, reason = s.cfg.Synced()
	}
	tip := s.deps.Chain.Tip()
	h := health{Status: "ok", Height: tip.Height, BestBlockHash: tip.ID.String(), TipTime: tip.Header.Time}
	if s.deps.Peers != nil {
		h.Peers = s.deps.Peers.Count()
	}
	status := http.StatusOK
	if !ok {
		h.Status, h.Reason = "unhealthy", reason
		status = http.StatusServiceUnavailable
	}
	body, _ := json.Marshal(h)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, append(body, '\n'))
}

type health struct {
	Status        string `json:"status"`
	Reason        string `json:"reason,omitempty"`
	Height        uint64 `json:"height"`
	BestBlockHash string `json:"bestblockhash"`
	TipTime       uint64 `json:"tip_time"`
	Peers         int    `json:"peers"`
}
