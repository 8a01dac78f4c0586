package node

import (
	"testing"

	"go.uber.org/goleak"

	"tally/internal/leakcheck"
)

// TestMain fails the run if a goroutine of a node outlives its Run.
func TestMain(m *testing.M) {
	leakcheck.Run(m,
		// The tests' RPC clients keep idle connections of their own.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}
