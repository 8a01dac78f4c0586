package rpc

import (
	"testing"

	"tally/internal/leakcheck"
)

// TestMain fails the run if a goroutine outlives the tests: every server
// a test starts must stop with all its goroutines (event streams and
// request handlers included); the tests' own clients are not counted.
func TestMain(m *testing.M) { leakcheck.Run(m, leakcheck.HTTPClients()...) }
