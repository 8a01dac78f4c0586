package rpc

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tally/rpc/client"
	"tally/rpc/rpcjson"
)

// TestWarmup: a server made without its deps listens at once and answers
// -28 with the status until Ready, except help, uptime and stop; /healthz
// and /events say it is loading.
func TestWarmup(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	stopped := make(chan struct{})
	srv, err := New(Config{Params: f.p, Listen: "127.0.0.1:0", CookieDir: dir, User: "bob", Password: "pw"},
		Deps{Stop: func() { close(stopped) }, Started: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- srv.Run(ctx) }()
	cli, err := client.FromCookie("http://"+srv.Addr(), filepath.Join(dir, rpcjson.CookieFile))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetStatus("Building indexes (height 12 of 20)...")
	var n int
	err = cli.Call(ctx, "getblockcount", nil, &n)
	var re *rpcjson.RPCError
	if !errors.As(err, &re) || re.Code != rpcjson.CodeWarmingUp || re.Message != "Building indexes (height 12 of 20)..." {
		t.Fatalf("getblockcount while loading: %v", err)
	}
	var up int64
	if err := cli.Call(ctx, "uptime", nil, &up); err != nil || up < 60 {
		t.Fatalf("uptime while loading: %d %v", up, err)
	}
	var help string
	if err := cli.Call(ctx, "help", nil, &help); err != nil || !strings.Contains(help, "getblockcount") {
		t.Fatalf("help while loading: %v", err)
	}
	for _, path := range []string{"/healthz", "/events"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+path, nil)
		req.SetBasicAuth("bob", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s while loading: %s", path, resp.Status)
		}
	}

	if err := srv.Ready(Deps{Chain: f.c, Mempool: f.pool, Events: f.hub}); err != nil {
		t.Fatal(err)
	}
	if err := cli.Call(ctx, "getblockcount", nil, &n); err != nil || n != 20 {
		t.Fatalf("getblockcount when ready: %d %v", n, err)
	}
	if err := srv.Ready(Deps{Chain: f.c, Mempool: f.pool}); err == nil {
		t.Fatal("Ready twice")
	}
	var msg string
	if err := cli.Call(ctx, "stop", nil, &msg); err != nil {
		t.Fatal(err)
	}
	<-stopped // the hook given to New
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
