package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"tally/node"
)

// parse runs the app's flag and config handling and returns the config the
// node would get.
func parse(t *testing.T, args ...string) (node.Config, error) {
	t.Helper()
	app := newApp()
	var got node.Config
	app.Action = func(c *cli.Context) error {
		var err error
		got, err = configFrom(c)
		return err
	}
	app.Writer, app.ErrWriter = os.Stderr, os.Stderr
	err := app.Run(append([]string{"noded"}, args...))
	return got, err
}

func TestConfigFilePrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "noded.toml")
	os.WriteFile(cfgFile, []byte(`
dbcache = 64
maxmempool = 50
txindex = true
rpc-listen = "127.0.0.1:9999"
bootstrap = ["/ip4/127.0.0.1/tcp/1/p2p/a", "/ip4/127.0.0.1/tcp/2/p2p/b"]
log-format = "json"
`), 0o600)

	// The file alone.
	cfg, err := parse(t, "--datadir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBCacheMB != 64 || cfg.MaxMempoolMB != 50 || !cfg.TxIndex || cfg.RPCListen != "127.0.0.1:9999" || len(cfg.Bootstrap) != 2 {
		t.Fatalf("config file not applied: %+v", cfg)
	}
	// Flags win over the file; unset ones still come from it.
	cfg, err = parse(t, "--config", cfgFile, "--dbcache", "8", "--rpc-listen", "127.0.0.1:0", "--bootstrap", "/ip4/127.0.0.1/tcp/3/p2p/c")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBCacheMB != 8 || cfg.RPCListen != "127.0.0.1:0" || len(cfg.Bootstrap) != 1 || cfg.MaxMempoolMB != 50 {
		t.Fatalf("flags did not win over the file: %+v", cfg)
	}
	// Defaults without any file.
	cfg, err = parse(t, "--datadir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBCacheMB != 256 || cfg.MaxMempoolMB != 300 || cfg.MinRelayFee != 1 || cfg.TxIndex {
		t.Fatalf("defaults: %+v", cfg)
	}
	// --dev turns mining on unless told otherwise.
	if cfg, _ = parse(t, "--dev", "--datadir", t.TempDir()); !cfg.Mine {
		t.Fatal("--dev should mine by default")
	}
	if cfg, _ = parse(t, "--dev", "--mine=false", "--datadir", t.TempDir()); cfg.Mine {
		t.Fatal("--mine=false should turn dev mining off")
	}
}

func TestBadFlagsAndConfigValues(t *testing.T) {
	dir := t.TempDir()
	n := 0
	write := func(body string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("bad%d.toml", n))
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	cases := []struct {
		args []string
		want string // must appear in the one-line error
	}{
		{[]string{"--bogus"}, "bogus"},
		{[]string{"--dbcache", "lots"}, "dbcache"},
		{[]string{"--dbcache", "-5"}, "--dbcache"},
		{[]string{"--maxmempool", "0"}, "--maxmempool"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--rpc-user", "alice"}, "--rpc-password"},
		{[]string{"stray"}, "stray"},
		{[]string{"--config", filepath.Join(dir, "missing.toml")}, "config file"},
		{[]string{"--config", write(`dbcash = 5`)}, `"dbcash"`},
		{[]string{"--config", write(`dbcache = "much"`)}, `"dbcache"`},
		{[]string{"--config", write(`dbcache = `)}, "config file"},
		{[]string{"--config", write("[rpc]\nlisten = 1")}, `"rpc"`},
	}
	for _, tc := range cases {
		_, err := parse(t, tc.args...)
		if err == nil {
			t.Errorf("%v: accepted", tc.args)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %q should be one line naming %q", tc.args, msg, tc.want)
		}
	}
}
