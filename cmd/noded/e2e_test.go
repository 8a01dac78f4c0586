package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// nodedBinary builds noded once per test run.
func nodedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "noded-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "noded")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
	dir string
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startNoded(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	os.Remove(filepath.Join(dir, "rpc.addr"))
	return startProc(t, dir, exec.Command(nodedBinary(t), append([]string{"--datadir", dir, "--rpc-listen", "127.0.0.1:0", "--p2p-listen", "/ip4/127.0.0.1/tcp/0"}, args...)...))
}

// startProc starts cmd, a noded whose datadir is dir, capturing its
// output; the test's end kills it if it still runs.
func startProc(t *testing.T, dir string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, out: new(bytes.Buffer), mu: new(sync.Mutex), dir: dir}
	p.cmd.Stdout = lockedWriter{p.mu, p.out}
	p.cmd.Stderr = lockedWriter{p.mu, p.out}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// rpcCall calls method on the node in dir with its cookie.
func rpcCall(dir, method string, params ...any) (json.RawMessage, error) {
	addr, err := os.ReadFile(filepath.Join(dir, "rpc.addr"))
	if err != nil {
		return nil, err
	}
	cookie, err := os.ReadFile(filepath.Join(dir, ".cookie"))
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = []any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	req, _ := http.NewRequest("POST", "http://"+strings.TrimSpace(string(addr)), bytes.NewReader(body))
	user, pass, _ := strings.Cut(strings.TrimSpace(string(cookie)), ":")
	req.SetBasicAuth(user, pass)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage
		Error  *struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: status %d: %v", method, resp.StatusCode, err)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("%s: %s", method, r.Error.Message)
	}
	return r.Result, nil
}

func blockCount(dir string) (int, error) {
	raw, err := rpcCall(dir, "getblockcount")
	if err != nil {
		return 0, err
	}
	var n int
	err = json.Unmarshal(raw, &n)
	return n, err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, p *proc, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; node output:\n%s", what, p.output())
}

func (p *proc) terminate(t *testing.T) {
	t.Helper()
	p.terminateWithin(t, 20*time.Second)
}

// terminateWithin sends SIGTERM and waits up to d for a clean exit; it
// returns how long the node took.
func (p *proc) terminateWithin(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("noded exited with %v after SIGTERM:\n%s", err, p.output())
		}
	case <-time.After(d):
		p.cmd.Process.Kill()
		t.Fatalf("noded did not stop within %v of SIGTERM:\n%s", d, p.output())
	}
	return time.Since(start)
}

// TestDevNodeLifecycle runs the README's dev node as a user would: it
// mines and answers RPC, a second noded on its datadir is refused, SIGTERM
// stops it cleanly, and a restart on the same datadir keeps the chain.
func TestDevNodeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	n := startNoded(t, dir, "--dev", "--metrics", "127.0.0.1:0", "--log-format", "json")
	waitFor(t, n, 60*time.Second, "two mined blocks over RPC", func() bool {
		c, err := blockCount(dir)
		return err == nil && c >= 2
	})
	checkMetrics(t, n)
	if _, err := os.Stat(filepath.Join(dir, "dev.wallet")); err != nil {
		t.Fatalf("dev wallet: %v", err)
	}
	if !strings.Contains(n.output(), "wallet send") && !strings.Contains(n.output(), "send --to") {
		t.Errorf("dev node did not print what to do next:\n%s", n.output())
	}

	second := exec.Command(nodedBinary(t), "--dev", "--datadir", dir, "--rpc-listen", "127.0.0.1:0")
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("second noded on the same datadir: err %v, output %s", err, out)
	}

	n.terminate(t)
	if _, err := os.Stat(filepath.Join(dir, ".cookie")); !os.IsNotExist(err) {
		t.Errorf("cookie left behind after a clean shutdown: %v", err)
	}
	// What the stopped node had: read it back from the restarted node.
	r := startNoded(t, dir, "--dev", "--mine=false")
	var before int
	waitFor(t, r, 60*time.Second, "RPC after restart", func() bool {
		c, err := blockCount(dir)
		before = c
		return err == nil
	})
	if before < 2 {
		t.Fatalf("restart lost the chain: height %d", before)
	}
	// generatetoaddress still extends the same chain.
	if _, err := rpcCall(dir, "generatetoaddress", 3, "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"); err != nil {
		t.Fatal(err)
	}
	if c, _ := blockCount(dir); c != before+3 {
		t.Fatalf("after generatetoaddress 3: height %d, want %d", c, before+3)
	}
	r.terminate(t)
}

// TestShutdownDuringSync stops a node in the middle of its initial sync
// and checks that it restarts cleanly and finishes.
func TestShutdownDuringSync(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const blocks = 1500
	srcDir := t.TempDir()
	src := startNoded(t, srcDir, "--dev", "--mine=false")
	waitFor(t, src, 60*time.Second, "source RPC", func() bool { _, err := blockCount(srcDir); return err == nil })
	for mined := 0; mined < blocks; mined += 500 {
		if _, err := rpcCall(srcDir, "generatetoaddress", 500, "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"); err != nil {
			t.Fatal(err)
		}
	}
	p2pAddr, err := os.ReadFile(filepath.Join(srcDir, "p2p.addr"))
	if err != nil {
		t.Fatal(err)
	}
	boot := strings.Fields(string(p2pAddr))[0]

	dir := t.TempDir()
	n := startNoded(t, dir, "--dev", "--mine=false", "--bootstrap", boot, "--dbcache", "1")
	var mid int
	waitFor(t, n, 60*time.Second, "sync to start", func() bool {
		c, err := blockCount(dir)
		mid = c
		return err == nil && c > 0
	})
	n.terminate(t)
	if mid >= blocks {
		t.Logf("sync finished (%d blocks) before the stop landed; the restart is still checked", mid)
	}
	r := startNoded(t, dir, "--dev", "--mine=false", "--bootstrap", boot)
	waitFor(t, r, 90*time.Second, "sync to finish after restart", func() bool {
		c, err := blockCount(dir)
		return err == nil && c == blocks
	})
	a, _ := rpcCall(srcDir, "getbestblockhash")
	b, _ := rpcCall(dir, "getbestblockhash")
	if string(a) != string(b) {
		t.Fatalf("tips differ after sync: %s vs %s", a, b)
	}
	r.terminate(t)
	src.terminate(t)
}

// checkMetrics finds the metrics address in the node's JSON log and checks
// that the chain height and RPC request series are served.
func checkMetrics(t *testing.T, p *proc) {
	t.Helper()
	var url string
	for _, line := range strings.Split(p.output(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics listening" {
			url = rec.Addr
		}
	}
	if url == "" {
		t.Fatalf("no JSON 'metrics listening' log line:\n%s", p.output())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	for _, want := range []string{"tally_chain_height ", "tally_rpc_requests_total{method=\"getblockcount\"}", "tally_blocks_connected_total ", "tally_mempool_transactions "} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
