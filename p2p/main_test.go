package p2p

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them. The
// ignored functions are process-wide background goroutines of libraries
// (started once, never per node), named one by one.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// goleveldb drains its buffer pool for up to a second after
		// Close (the in-memory chains of the test nodes).
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	)
}
