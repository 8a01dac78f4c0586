package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"tally/rpc/rpcjson"
)

// CallPublic runs one call in process exactly as the public listener
// would: only the methods the public listener serves, the same parameter
// checks and the same bound on the result's size. It is for read-only
// front ends in the same process (the block explorer), so they are built
// on nothing more than the public interface. An error from the method is
// an *rpcjson.RPCError.
func (s *Server) CallPublic(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, rpcErr(rpcjson.CodeInvalidParams, "encoding the parameters: %v", err)
	}
	req := request{v2: true, id: json.RawMessage("1"), method: method, params: raw}
	res, rerr, after := s.exec(ctx, &req, true)
	if rerr != nil {
		return nil, rerr
	}
	if after != nil {
		after()
	}
	if len(res) > s.cfg.PublicMaxResponseBytes {
		return nil, rpcErr(rpcjson.CodeMisc, "the result is larger than the public interface's limit of %d bytes", s.cfg.PublicMaxResponseBytes)
	}
	return res, nil
}

// ServeEvents serves GET /events as the public listener does (the
// warm-up answer while the node loads, 404 without an event hub), for a
// front end in the same process that proxies the stream to its own
// clients under its own rate limit.
func (s *Server) ServeEvents(w http.ResponseWriter, r *http.Request) { s.serveEvents(w, r) }

// RateLimiter is the public listener's per-client token bucket (clients
// keyed by IPv4 address or IPv6 /64), for other unauthenticated
// listeners of the node to limit clients the same way.
type RateLimiter struct{ l *limiter }

// NewRateLimiter allows each client rate requests a second, up to burst
// at once.
func NewRateLimiter(rate float64, burst int) *RateLimiter {
	return &RateLimiter{l: newLimiter(rate, float64(burst), time.Now)}
}

// Allow takes one token from the bucket of the client at remoteAddr
// (an http.Request's RemoteAddr).
func (r *RateLimiter) Allow(remoteAddr string) bool { return r.l.allow(ClientKey(remoteAddr), 1) }

// ClientKey names the client at remoteAddr as the rate limits do: its
// IPv4 address, or its IPv6 /64.
func ClientKey(remoteAddr string) string { return clientKey(remoteAddr) }

// LimitListener accepts at most n connections at once, as the public
// listener does.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		panic(fmt.Sprintf("rpc: LimitListener(%d)", n))
	}
	return newLimitListener(ln, n)
}
