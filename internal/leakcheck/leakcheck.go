// Package leakcheck finds goroutines that outlive a package's tests, for
// the TestMain of packages that start long-lived services (node, rpc).
package leakcheck

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Run runs the tests and then fails the run if goroutines are left,
// waiting up to 5 s for the ones that end shortly after their owner's
// Close (goleveldb drains its memory pool for up to a second after
// Close). The idle keep-alive connections of http.DefaultTransport (the
// tests' clients) are closed first; opts add goleak options.
func Run(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		if err := find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// HTTPClients ignores the connections the Go RPC client (rpc/client)
// keeps on its own transport: the tests' clients, not the server's.
func HTTPClients() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	}
}

func find(opts ...goleak.Option) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
