package node

import (
	"testing"

	"tally/internal/leakcheck"
)

// TestMain fails the run if a goroutine of a node outlives its Run
// (the tests' RPC clients keep idle connections of their own).
func TestMain(m *testing.M) { leakcheck.Run(m, leakcheck.HTTPClients()...) }
