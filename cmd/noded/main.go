// Command noded runs a Tally full node. Flags (SPEC section 10) may also be
// set in a TOML config file (--config, default <datadir>/noded.toml, the
// datadir defaulting to ~/.tally/<network>); a flag on the command line
// wins over the file. main is thin: flags -> node.Config -> node.Run(ctx),
// SIGINT/SIGTERM cancel ctx, and only main exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"tally/internal/version"
	"tally/node"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		var logged *loggedError
		if !errors.As(err, &logged) {
			fmt.Fprintln(os.Stderr, "noded:", err)
		}
		os.Exit(1)
	}
}

// loggedError is a failure of the running node, already logged.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

// configFileKey is where applyConfigFile leaves the path of the file it
// read, for the start banner.
const configFileKey = "config-file-read"

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "datadir", Usage: "data directory (default ~/.tally/<network>)"},
		&cli.StringFlag{Name: "config", Usage: "TOML config file (default <datadir>/noded.toml if it exists)"},
		&cli.StringFlag{Name: "genesis", Usage: "genesis.json of the network to run (default: the embedded public network)"},
		&cli.BoolFlag{Name: "dev", Usage: "run a private single-machine dev network (mines, RPC on, funded dev key)"},
		&cli.BoolFlag{Name: "mine", Usage: "mine blocks on all cores (default on with --dev)"},
		&cli.StringFlag{Name: "miner-address", Usage: "address paid by mined blocks"},
		&cli.StringFlag{Name: "rpc-listen", Usage: "JSON-RPC listen HOST:PORT (default 127.0.0.1:<rpc_port>; port 0 picks one)"},
		&cli.StringFlag{Name: "rpc-user", Usage: "JSON-RPC user (the cookie file works without it)"},
		&cli.StringFlag{Name: "rpc-password", Usage: "JSON-RPC password"},
		&cli.StringFlag{Name: "rpc-public", Usage: "public read-only JSON-RPC listen HOST:PORT (no auth, rate limited)"},
		&cli.StringSliceFlag{Name: "p2p-listen", Usage: "p2p listen multiaddr (repeatable; default /ip4/0.0.0.0/tcp/<p2p_port> and QUIC)"},
		&cli.StringSliceFlag{Name: "bootstrap", Usage: "bootstrap peer multiaddr (repeatable; default from genesis.json)"},
		&cli.BoolFlag{Name: "mdns", Usage: "discover peers on the LAN with mDNS"},
		&cli.IntFlag{Name: "dbcache", Value: 256, Usage: "UTXO cache size in MB"},
		&cli.BoolFlag{Name: "txindex", Usage: "index every transaction (getrawtransaction for any tx)"},
		&cli.BoolFlag{Name: "addrindex", Usage: "index addresses (history, balances and unspent outputs per address)"},
		&cli.IntFlag{Name: "prune", Usage: "delete the oldest block files beyond this many MB (0 keeps every block; at least 550; not with --txindex or --addrindex)"},
		&cli.StringFlag{Name: "assumevalid", Usage: "skip signature checks of this block's ancestors on a header chain with at least its work (default genesis.json assume_valid; 0 checks every signature)"},
		&cli.IntFlag{Name: "maxmempool", Value: 300, Usage: "mempool size limit in MB"},
		&cli.Uint64Flag{Name: "minrelayfee", Value: 1, Usage: "lowest fee rate relayed and mined, base units per byte"},
		&cli.StringFlag{Name: "metrics", Usage: "Prometheus metrics listen HOST:PORT"},
		&cli.StringFlag{Name: "explorer", Usage: "block explorer (read-only web pages) listen HOST:PORT; port 0 picks one, written to <datadir>/explorer.addr"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		// Hidden: the intervals of the log reporters, and a start-up pause
		// for testing clients against a node that is still loading.
		&cli.DurationFlag{Name: "progress-interval", Value: node.DefaultProgressInterval, Hidden: true},
		&cli.DurationFlag{Name: "no-peers-interval", Value: node.DefaultNoPeersInterval, Hidden: true},
		&cli.DurationFlag{Name: "debug-start-delay", Hidden: true},
		// Hidden: a CPU profile of the whole run, written at exit (as
		// btcd's --cpuprofile), for benchmarks of the real process.
		&cli.StringFlag{Name: "debug-cpuprofile", Hidden: true},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:            "noded",
		Usage:           "Tally full node",
		Version:         version.String(),
		HideHelpCommand: true,
		Flags:           flags(),
		Before:          applyConfigFile,
		Action:          run,
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see noded --help)", err)
		},
	}
}

// applyConfigFile sets every flag the TOML file names and the command line
// did not set. Unknown keys and bad values are errors naming the key.
func applyConfigFile(c *cli.Context) error {
	path := c.String("config")
	explicit := path != ""
	if !explicit {
		dir := c.String("datadir")
		if dir == "" {
			// The default datadir depends on the network, which the
			// command line's --genesis and --dev choose.
			params, err := (&node.Config{GenesisFile: c.String("genesis"), Dev: c.Bool("dev")}).LoadParams()
			if err != nil {
				return err
			}
			if dir, err = node.DefaultDataDir(params.Network); err != nil {
				return nil // no home directory: no default file either
			}
		}
		path = filepath.Join(dir, "noded.toml")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("config file: %w", err)
	}
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[configFileKey] = path
	var values map[string]any
	if _, err := toml.Decode(string(data), &values); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, f := range flags() {
		known[f.Names()[0]] = true
	}
	for key, v := range values {
		if !known[key] || key == "config" {
			return fmt.Errorf("config file %s: unknown setting %q", path, key)
		}
		if c.IsSet(key) {
			continue
		}
		var items []string
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				items = append(items, fmt.Sprint(e))
			}
		case map[string]any:
			return fmt.Errorf("config file %s: setting %q must be a value, not a table", path, key)
		default:
			items = []string{fmt.Sprint(x)}
		}
		for _, s := range items {
			if err := c.Set(key, s); err != nil {
				return fmt.Errorf("config file %s: setting %q: bad value %q: %v", path, key, s, err)
			}
		}
	}
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func run(c *cli.Context) error {
	cfg, err := configFrom(c)
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The process's memory budget follows --dbcache (node.MemoryLimit,
		// less a margin for what the runtime does not count); GOMEMLIMIT,
		// when set, is the operator's own choice.
		debug.SetMemoryLimit(cfg.RuntimeMemoryLimit())
	}
	if path := c.String("debug-cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--debug-cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--debug-cpuprofile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := node.Run(ctx, cfg); err != nil {
		cfg.Logger.Error("noded stopped", "err", err)
		return &loggedError{err}
	}
	return nil
}

// configFrom turns the parsed flags (and config file) into a node.Config.
func configFrom(c *cli.Context) (node.Config, error) {
	if c.NArg() > 0 {
		return node.Config{}, fmt.Errorf("unexpected argument %q (flags start with --; see noded --help)", c.Args().First())
	}
	log, err := newLogger(c.String("log-level"), c.String("log-format"))
	if err != nil {
		return node.Config{}, err
	}
	cfg := node.Config{
		DataDir:      c.String("datadir"),
		GenesisFile:  c.String("genesis"),
		Dev:          c.Bool("dev"),
		Mine:         c.Bool("mine"),
		MinerAddress: c.String("miner-address"),
		RPCListen:    c.String("rpc-listen"),
		RPCUser:      c.String("rpc-user"),
		RPCPassword:  c.String("rpc-password"),
		RPCPublic:    c.String("rpc-public"),
		P2PListen:    c.StringSlice("p2p-listen"),
		Bootstrap:    c.StringSlice("bootstrap"),
		MDNS:         c.Bool("mdns"),
		DBCacheMB:    c.Int("dbcache"),
		TxIndex:      c.Bool("txindex"),
		AddrIndex:    c.Bool("addrindex"),
		PruneMB:      c.Int("prune"),
		AssumeValid:  c.String("assumevalid"),
		MaxMempoolMB: c.Int("maxmempool"),
		MinRelayFee:  c.Uint64("minrelayfee"),
		Metrics:      c.String("metrics"),
		Explorer:     c.String("explorer"),
		Logger:       log,

		ProgressInterval: c.Duration("progress-interval"),
		NoPeersInterval:  c.Duration("no-peers-interval"),
		StartDelay:       c.Duration("debug-start-delay"),
	}
	if path, ok := c.App.Metadata[configFileKey].(string); ok {
		cfg.ConfigFile = path
	}
	if cfg.Dev && !c.IsSet("mine") {
		cfg.Mine = true
	}
	if err := cfg.Validate(); err != nil {
		return node.Config{}, err
	}
	return cfg, nil
}
