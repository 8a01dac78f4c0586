package rpc

import (
	"testing"

	"go.uber.org/goleak"

	"tally/internal/leakcheck"
)

// TestMain fails the run if a goroutine outlives the tests: every server
// a test starts must stop with all its goroutines (event streams and
// request handlers included).
func TestMain(m *testing.M) {
	// The Go client (rpc/client) keeps its own idle connections: those
	// are the tests' clients, not the server.
	leakcheck.Run(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}
