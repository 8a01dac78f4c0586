package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/consensus"
	"tally/rpc/client"
	"tally/rpc/rpcjson"
)

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond every 20 ms for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startDevNode runs a dev node (no miner) in process on 127.0.0.1 with
// free ports and returns its RPC client, its log, and a stop function
// returning Run's error.
func startDevNode(t *testing.T, dir string) (*client.Client, *logBuffer, func() error) {
	t.Helper()
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	os.Remove(filepath.Join(dir, "rpc.addr"))
	go func() {
		done <- Run(ctx, Config{DataDir: dir, Dev: true, RPCListen: "127.0.0.1:0", Metrics: "127.0.0.1:0",
			P2PListen: []string{"/ip4/127.0.0.1/tcp/0"}, DBCacheMB: 8, MaxMempoolMB: 16, MinRelayFee: 1,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	}()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("node did not stop within 30 s")
			}
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	var addr []byte
	waitFor(t, "rpc.addr", func() bool {
		var err error
		addr, err = os.ReadFile(filepath.Join(dir, "rpc.addr"))
		return err == nil
	})
	cli, err := client.FromCookie("http://"+strings.TrimSpace(string(addr)), filepath.Join(dir, rpcjson.CookieFile))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node ready", func() bool { return strings.Contains(logs.String(), "node ready") })
	return cli, logs, stop
}

// metricValue reads one series from the node's metrics endpoint.
func metricValue(t *testing.T, logs string, name string) string {
	t.Helper()
	m := regexp.MustCompile(`"metrics listening" addr=(\S+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatal("no metrics address in the log")
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			return f[1]
		}
	}
	t.Fatalf("no series %s", name)
	return ""
}

// TestDevNodeLifecycle starts a dev node in process, mines through RPC,
// follows /events, checks the log and the metrics, stops it, starts it
// again on the same datadir (the chain continues), and stops it again;
// TestMain then checks that no goroutine is left.
func TestDevNodeLifecycle(t *testing.T) {
	dir := t.TempDir()
	cli, logs, stop := startDevNode(t, dir)
	ctx := context.Background()
	devAddr := "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"
	ids, err := cli.GenerateToAddress(ctx, 3, devAddr)
	if err != nil || len(ids) != 3 {
		t.Fatalf("generatetoaddress: %v %v", ids, err)
	}
	if n, _ := cli.GetBlockCount(ctx); n != 3 {
		t.Fatalf("height %d", n)
	}
	waitFor(t, "block log lines", func() bool { return strings.Count(logs.String(), "block connected") == 3 })
	for _, want := range []string{"Tally noded starting", "version=", "network=tally-dev", "rpc listening", "p2p listening", "metrics listening"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs.String(), "rpc listening"); n != 1 {
		t.Fatalf("rpc listening logged %d times", n)
	}
	for name, want := range map[string]string{"tally_blocks_connected_total": "3", "tally_block_process_seconds_count": "3", "tally_chain_height": "3"} {
		if got := metricValue(t, logs.String(), name); got != want {
			t.Fatalf("%s = %s, want %s", name, got, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, rpcjson.CookieFile)); !os.IsNotExist(err) {
		t.Fatalf("cookie left after stop: %v", err)
	}
	if !strings.Contains(logs.String(), "chain state flushed and closed") {
		t.Fatal("no final flush logged")
	}

	cli, _, stop = startDevNode(t, dir)
	if n, _ := cli.GetBlockCount(ctx); n != 3 {
		t.Fatalf("height %d after restart", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestRPCStopEndsRun: the stop method ends Run with no error.
func TestRPCStopEndsRun(t *testing.T) {
	dir := t.TempDir()
	cli, _, stop := startDevNode(t, dir)
	var msg string
	if err := cli.Call(context.Background(), "stop", nil, &msg); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestDatadirLocked: a second node on the same datadir is refused while
// the first runs.
func TestDatadirLocked(t *testing.T) {
	dir := t.TempDir()
	startDevNode(t, dir)
	err := Run(context.Background(), Config{DataDir: dir, Dev: true, MaxMempoolMB: 1, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second node: %v", err)
	}
}

// TestLoadParamsGenesisFile: --genesis reads the file named (consensus
// parses bytes only); a missing or broken file is a GenesisError naming
// the problem.
func TestLoadParamsGenesisFile(t *testing.T) {
	repo, err := os.ReadFile(filepath.Join("..", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "net.json")
	custom := strings.Replace(string(repo), `"network": "tally",`, `"network": "tally-test",`, 1)
	if err := os.WriteFile(path, []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := (&Config{GenesisFile: path}).LoadParams()
	if err != nil || p.Network != "tally-test" {
		t.Fatalf("LoadParams: %v %v", p, err)
	}
	def, err := (&Config{}).LoadParams()
	if err != nil || def.Network != "tally" {
		t.Fatalf("default params: %v", err)
	}
	dev, err := (&Config{GenesisFile: path, Dev: true}).LoadParams()
	if err != nil || dev.Network != "tally-dev" {
		t.Fatalf("dev params from file: %v %v", dev, err)
	}
	var ge *consensus.GenesisError
	if _, err := (&Config{GenesisFile: filepath.Join(dir, "missing.json")}).LoadParams(); !errors.As(err, &ge) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(custom[:len(custom)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Config{GenesisFile: path}).LoadParams(); !errors.As(err, &ge) {
		t.Fatalf("truncated file: %v", err)
	}
}
