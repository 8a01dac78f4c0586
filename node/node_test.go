package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/chain/blockfile"
	"tally/consensus"
	"tally/rpc/client"
	"tally/rpc/rpcjson"
	"tally/wire"
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
	return startNode(t, Config{DataDir: dir, Dev: true, DBCacheMB: 8})
}

// startNode is startDevNode for any config: it adds the free ports, a
// small pool and the log (DBCacheMB 0 writes every block through).
func startNode(t *testing.T, cfg Config) (*client.Client, *logBuffer, func() error) {
	t.Helper()
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	dir := cfg.DataDir
	os.Remove(filepath.Join(dir, "rpc.addr"))
	cfg.RPCListen, cfg.Metrics, cfg.P2PListen = "127.0.0.1:0", "127.0.0.1:0", []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.MaxMempoolMB, cfg.MinRelayFee = 16, 1
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { done <- Run(ctx, cfg) }()
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

// TestEveryBlockPathCounted: blocks reach node B by submitblock, by the
// sync protocol and by gossip; every one of them moves both block
// metrics (the review found blocks from peers missing from
// tally_block_process_seconds).
func TestEveryBlockPathCounted(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, _, _ := startDevNode(t, dirA)
	b, logsB, _ := startDevNode(t, dirB)
	ctx := context.Background()
	const devAddr = "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"
	height := func(c *client.Client) uint64 { n, _ := c.GetBlockCount(ctx); return n }

	// submitblock: A's first block, handed to B by RPC.
	ids, err := a.GenerateToAddress(ctx, 1, devAddr)
	if err != nil {
		t.Fatal(err)
	}
	var hexBlock string
	if err := a.Call(ctx, "getblock", []any{ids[0].String(), 0}, &hexBlock); err != nil {
		t.Fatal(err)
	}
	var res any
	if err := b.Call(ctx, "submitblock", []any{hexBlock}, &res); err != nil || res != nil {
		t.Fatalf("submitblock: %v %v", res, err)
	}
	// Sync: 20 more blocks, fetched by B once it knows A.
	if _, err := a.GenerateToAddress(ctx, 20, devAddr); err != nil {
		t.Fatal(err)
	}
	p2pAddr, err := os.ReadFile(filepath.Join(dirA, "p2p.addr"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Call(ctx, "addnode", []any{strings.Fields(string(p2pAddr))[0], "add"}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to sync 21 blocks", func() bool { return height(b) == 21 })
	if !strings.Contains(logsB.String(), `msg="peer connected"`) {
		t.Fatal("no debug line for the peer joining")
	}
	// Gossip: two blocks announced as A mines them.
	for i := 0; i < 2; i++ {
		if _, err := a.GenerateToAddress(ctx, 1, devAddr); err != nil {
			t.Fatal(err)
		}
		want := uint64(22 + i)
		waitFor(t, "B to receive a gossiped block", func() bool { return height(b) == want })
	}
	connected := metricValue(t, logsB.String(), "tally_blocks_connected_total")
	processed := metricValue(t, logsB.String(), "tally_block_process_seconds_count")
	var nc, np int
	fmt.Sscan(connected, &nc)
	fmt.Sscan(processed, &np)
	if nc != 23 || np < 23 {
		t.Fatalf("B connected %d blocks and timed %d, want 23 and at least 23", nc, np)
	}
}

// TestNoPeersWarnings: a public-network node without bootstrap nodes says
// so at start, and warns while it has no peers.
func TestNoPeersWarnings(t *testing.T) {
	_, logs, stop := startNode(t, Config{DataDir: t.TempDir(), NoPeersInterval: 100 * time.Millisecond})
	waitFor(t, "the no-peers warning", func() bool { return strings.Contains(logs.String(), "no peers: the node cannot sync") })
	if !strings.Contains(logs.String(), "no bootstrap nodes: genesis.json lists none") {
		t.Fatalf("no start warning about bootstrap nodes:\n%s", logs)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestPruneFlagChecks: --prune is refused below the minimum and with the
// indexes that point into pruned blocks.
func TestPruneFlagChecks(t *testing.T) {
	base := Config{MaxMempoolMB: 300}
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{PruneMB: 0}, true},
		{Config{PruneMB: MinPruneMB}, true},
		{Config{PruneMB: MinPruneMB - 1}, false},
		{Config{PruneMB: -1}, false},
		{Config{PruneMB: 1000, TxIndex: true}, false},
		{Config{PruneMB: 1000, AddrIndex: true}, false},
	} {
		cfg := tc.cfg
		cfg.MaxMempoolMB = base.MaxMempoolMB
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("prune %d txindex %v addrindex %v: %v", cfg.PruneMB, cfg.TxIndex, cfg.AddrIndex, err)
		}
	}
}

// TestAssumeValidFlag: --assumevalid takes a lowercase block id, 0 (off)
// or nothing (genesis.json's), and refuses anything else.
func TestAssumeValidFlag(t *testing.T) {
	p, err := consensus.Default(true)
	if err != nil {
		t.Fatal(err)
	}
	p.AssumeValid = wire.H([]byte("default"))
	id := wire.H([]byte("flag"))
	for _, tc := range []struct {
		flag string
		want wire.Hash
		ok   bool
	}{
		{"", p.AssumeValid, true},
		{"0", wire.Hash{}, true},
		{id.String(), id, true},
		{strings.ToUpper(id.String()), wire.Hash{}, false},
		{id.String()[:63], wire.Hash{}, false},
		{"yes", wire.Hash{}, false},
	} {
		cfg := Config{MaxMempoolMB: 300, AssumeValid: tc.flag}
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("--assumevalid %q: %v", tc.flag, err)
			continue
		}
		if got, err := cfg.assumeValid(p); tc.ok && (err != nil || got != tc.want) {
			t.Errorf("--assumevalid %q: %v %v, want %v", tc.flag, got, err, tc.want)
		}
	}
}

// TestStorageFailureStopsNode: when the disk fails under a running node,
// the chain's Run returns the failure, every service stops, and Run
// returns the error (noded logs it and exits 1).
func TestStorageFailureStopsNode(t *testing.T) {
	fs := blockfile.NewMemFS()
	var failing atomic.Bool
	errDisk := errors.New("disk on fire")
	fs.Hook = func(op, name string) error {
		if failing.Load() && op != "read" {
			return errDisk
		}
		return nil
	}
	// No UTXO cache: every block is written at once.
	cli, logs, stop := startNode(t, Config{DataDir: t.TempDir(), Dev: true, blockFS: fs})
	ctx := context.Background()
	const devAddr = "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"
	if _, err := cli.GenerateToAddress(ctx, 2, devAddr); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	if _, err := cli.GenerateToAddress(ctx, 1, devAddr); err == nil {
		t.Fatalf("a block was mined onto a failed disk:\n%s", logs)
	}
	waitFor(t, "the node to stop", func() bool { return strings.Contains(logs.String(), "stopping after a failure") })
	err := stop()
	if !errors.Is(err, errDisk) {
		t.Fatalf("Run returned %v, want the disk's error", err)
	}
	if !strings.Contains(err.Error(), "chain") {
		t.Fatalf("error %q does not name the chain", err)
	}
}
