package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tally/chain/blockfile"
	"tally/consensus"
	"tally/wire"
)

// MinPruneMB is the smallest --prune, as Bitcoin Core's: room for the
// last 288 blocks of the largest size with their undo data, and a file
// being written.
const MinPruneMB = 550

// Config is everything noded can be told (SPEC sections 9 and 10).
type Config struct {
	DataDir      string
	GenesisFile  string
	Dev          bool
	Mine         bool
	MinerAddress string
	RPCListen    string
	RPCUser      string
	RPCPassword  string
	RPCPublic    string
	P2PListen    []string
	Bootstrap    []string
	MDNS         bool
	DBCacheMB    int
	TxIndex      bool
	AddrIndex    bool
	// PruneMB, if > 0, bounds the block and undo files (--prune).
	PruneMB int
	// AssumeValid is --assumevalid: "" takes genesis.json's
	// assume_valid, "0" checks every signature, otherwise a block id.
	AssumeValid  string
	MaxMempoolMB int
	MinRelayFee  uint64
	Metrics      string
	// Explorer is the block explorer's listen address (--explorer);
	// empty for none.
	Explorer string
	// ProgressInterval spaces the initial-sync progress lines (default
	// DefaultProgressInterval); NoPeersInterval is how long the node may
	// have no peers before it warns, and how often it warns again
	// (default DefaultNoPeersInterval).
	ProgressInterval time.Duration
	NoPeersInterval  time.Duration
	// StartDelay pauses start-up after the RPC listener opens and before
	// the chain loads (a test knob: clients see the -28 answers of a slow
	// start).
	StartDelay time.Duration
	// blockFS, set by tests only, replaces the block files' file system
	// (to make the disk fail under a running node).
	blockFS blockfile.FS
	// ConfigFile is the TOML file the settings were read from ("" for
	// none), for the start banner.
	ConfigFile string
	// Logger receives every log line (cmd/noded builds it from
	// --log-level and --log-format).
	Logger *slog.Logger
}

// LoadParams returns the network parameters the config selects.
func (c *Config) LoadParams() (*consensus.Params, error) {
	if c.GenesisFile != "" {
		// consensus parses bytes and does no file I/O: the file is read here.
		data, err := os.ReadFile(c.GenesisFile)
		if err != nil {
			return nil, &consensus.GenesisError{Dev: c.Dev, Err: err}
		}
		return consensus.LoadGenesis(data, c.Dev)
	}
	return consensus.Default(c.Dev)
}

// DefaultDataDir returns ~/.tally/<network>.
func DefaultDataDir(network string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --datadir given and no home directory: %w", err)
	}
	return filepath.Join(home, ".tally", network), nil
}

// assumeValid resolves --assumevalid against the network's default (p
// may be nil when only the syntax is checked); the zero hash means none.
func (c *Config) assumeValid(p *consensus.Params) (wire.Hash, error) {
	switch c.AssumeValid {
	case "":
		if p == nil {
			return wire.Hash{}, nil
		}
		return p.AssumeValid, nil
	case "0":
		return wire.Hash{}, nil
	}
	h, err := wire.ParseHash(c.AssumeValid)
	if err != nil || c.AssumeValid != strings.ToLower(c.AssumeValid) {
		return wire.Hash{}, fmt.Errorf("--assumevalid %q: must be a block id of 64 lowercase hex digits, or 0 to check every signature", c.AssumeValid)
	}
	return h, nil
}

// Validate checks the values a flag or config file can get wrong, naming
// the flag in a one-line error.
func (c *Config) Validate() error {
	if c.DBCacheMB < 0 {
		return fmt.Errorf("--dbcache %d: must be >= 0 (MB)", c.DBCacheMB)
	}
	if c.PruneMB < 0 || c.PruneMB > 0 && c.PruneMB < MinPruneMB {
		return fmt.Errorf("--prune %d: must be 0 (keep every block) or at least %d (MB)", c.PruneMB, MinPruneMB)
	}
	if c.PruneMB > 0 && (c.TxIndex || c.AddrIndex) {
		return errors.New("--prune cannot run with --txindex or --addrindex: the indexes point into the blocks pruning deletes")
	}
	if _, err := c.assumeValid(nil); err != nil {
		return err
	}
	if c.MaxMempoolMB < 1 {
		return fmt.Errorf("--maxmempool %d: must be at least 1 (MB)", c.MaxMempoolMB)
	}
	if (c.RPCUser == "") != (c.RPCPassword == "") {
		return errors.New("--rpc-user and --rpc-password go together")
	}
	return nil
}
