package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestVersion: --version on both binaries.
func TestVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	out, err := exec.Command(nodedBinary(t), "--version").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^noded version \d+\.\d+\.\d+\S* \(.*go1\.`).Match(out) {
		t.Fatalf("noded --version: %v %q", err, out)
	}
	wallet := filepath.Join(t.TempDir(), "wallet")
	if b, err := exec.Command("go", "build", "-o", wallet, "../wallet").CombinedOutput(); err != nil {
		t.Fatalf("build wallet: %v\n%s", err, b)
	}
	out, err = exec.Command(wallet, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "wallet version ") {
		t.Fatalf("wallet --version: %v %q", err, out)
	}
}

// TestDefaultConfigFile: with neither --config nor --datadir, noded reads
// <default datadir>/noded.toml (~/.tally/<network>/noded.toml) and says
// so in its start banner.
func TestDefaultConfigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	home := t.TempDir()
	dir := filepath.Join(home, ".tally", "tally-dev")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "noded.toml")
	os.WriteFile(cfgPath, []byte(`rpc-listen = "127.0.0.1:0"
p2p-listen = ["/ip4/127.0.0.1/tcp/0"]
mine = false
log-format = "json"
`), 0o600)
	cmd := exec.Command(nodedBinary(t), "--dev")
	cmd.Env = append(os.Environ(), "HOME="+home)
	p := startProc(t, dir, cmd)
	waitFor(t, p, 60*time.Second, "RPC in the default datadir", func() bool { _, err := blockCount(dir); return err == nil })
	banner := p.logLine(t, "Tally noded starting")
	if banner["config"] != cfgPath || banner["datadir"] != dir || banner["network"] != "tally-dev" || banner["mine"] != false {
		t.Fatalf("banner %v, want config %s", banner, cfgPath)
	}
	p.terminate(t)
}

// TestOperatorLogs: the banner, -28 while the node is still starting, a
// line per mined block, "rpc listening" once, then a second node syncing
// from the first logs progress lines (and counts every block it got in
// its metrics), and a public-network node without peers warns.
func TestOperatorLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	srcDir := t.TempDir()
	src := startNoded(t, srcDir, "--dev", "--mine=false", "--debug-start-delay", "3s")
	// RPC answers at once, with -28 until the node is loaded.
	var loadingErr error
	waitFor(t, src, 30*time.Second, "a -28 answer during the slow start", func() bool {
		_, loadingErr = blockCount(srcDir)
		return loadingErr != nil && strings.Contains(loadingErr.Error(), "Loading the chain")
	})
	waitFor(t, src, 60*time.Second, "RPC after the start", func() bool { _, err := blockCount(srcDir); return err == nil })
	for _, want := range []string{"Tally noded starting", "version=", "network=tally-dev", "datadir=" + srcDir, "config=none", "p2p listening", "node ready"} {
		if !strings.Contains(src.output(), want) {
			t.Fatalf("log lacks %q:\n%s", want, src.output())
		}
	}
	if n := strings.Count(src.output(), `"rpc listening"`); n != 1 {
		t.Fatalf("rpc listening logged %d times:\n%s", n, src.output())
	}
	const blocks = 800
	if _, err := rpcCall(srcDir, "generatetoaddress", 3, "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, src, 10*time.Second, "a log line per block", func() bool { return strings.Count(src.output(), `"block connected"`) == 3 })
	if !strings.Contains(src.output(), "height=3 ") {
		t.Fatalf("no line for block 3:\n%s", src.output())
	}
	for mined := 3; mined < blocks; mined += 400 {
		if _, err := rpcCall(srcDir, "generatetoaddress", min(400, blocks-mined), "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"); err != nil {
			t.Fatal(err)
		}
	}
	p2pAddr, err := os.ReadFile(filepath.Join(srcDir, "p2p.addr"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := startNoded(t, dir, "--dev", "--mine=false", "--bootstrap", strings.Fields(string(p2pAddr))[0],
		"--progress-interval", "100ms", "--metrics", "127.0.0.1:0", "--log-format", "json")
	waitFor(t, n, 120*time.Second, "the sync", func() bool { c, err := blockCount(dir); return err == nil && c == blocks })
	line := n.logLine(t, "syncing")
	for _, k := range []string{"height", "percent", "blocks_per_s", "eta"} {
		if _, ok := line[k]; !ok {
			t.Fatalf("progress line %v lacks %s", line, k)
		}
	}
	metrics := n.metrics(t)
	if metrics["tally_blocks_connected_total"] != blocks || metrics["tally_block_process_seconds_count"] < blocks {
		t.Fatalf("after syncing %d blocks: connected %v, timed %v", blocks,
			metrics["tally_blocks_connected_total"], metrics["tally_block_process_seconds_count"])
	}
	n.terminate(t)
	src.terminate(t)

	// The public network with no bootstrap nodes and no peers.
	pub := startNoded(t, t.TempDir(), "--no-peers-interval", "200ms")
	waitFor(t, pub, 60*time.Second, "the no-peers warnings", func() bool {
		out := pub.output()
		return strings.Contains(out, "no bootstrap nodes: genesis.json lists none") && strings.Contains(out, "no peers: the node cannot sync")
	})
	pub.terminate(t)
}

// logLine returns the first JSON log line with message msg.
func (p *proc) logLine(t *testing.T, msg string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(p.output(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	t.Fatalf("no JSON log line %q:\n%s", msg, p.output())
	return nil
}

// metrics reads the node's metrics endpoint (found in its JSON log).
func (p *proc) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	addr, _ := p.logLine(t, "metrics listening")["addr"].(string)
	resp, err := http.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := resp.Body.Read(buf)
		body.Write(buf[:k])
		if err != nil {
			break
		}
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body.String(), "\n") {
		var name string
		var v float64
		if _, err := fmt.Sscanf(line, "%s %g", &name, &v); err == nil && !strings.HasPrefix(name, "#") {
			out[name] = v
		}
	}
	return out
}
