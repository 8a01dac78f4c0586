package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"tally/consensus"
	"tally/wallet"
)

// passphraseEnv is the environment variable holding the keystore
// passphrase.
const passphraseEnv = "TALLY_PASSPHRASE"

// config is everything the global flags decide.
type config struct {
	params         *consensus.Params
	walletPath     string
	rpcURL         string
	rpcCookie      string // explicit --rpc-cookie, or ""
	rpcUser        string
	rpcPassword    string
	passphraseFile string
	json           bool

	stdin          io.Reader
	stdout, stderr io.Writer
}

// loadConfig reads the global flags (and --json wherever it was given).
func loadConfig(c *cli.Context) (*config, error) {
	dev := c.Bool("dev")
	var p *consensus.Params
	var err error
	if g := c.String("genesis"); g != "" {
		var data []byte
		if data, err = os.ReadFile(g); err != nil {
			return nil, &consensus.GenesisError{Dev: dev, Err: err}
		}
		p, err = consensus.LoadGenesis(data, dev)
	} else {
		p, err = consensus.Default(dev)
	}
	if err != nil {
		return nil, err
	}
	cfg := &config{
		params:         p,
		walletPath:     c.String("wallet"),
		rpcURL:         c.String("rpc"),
		rpcCookie:      c.String("rpc-cookie"),
		rpcUser:        c.String("rpc-user"),
		rpcPassword:    c.String("rpc-password"),
		passphraseFile: c.String("passphrase-file"),
		stdin:          c.App.Reader,
		stdout:         c.App.Writer,
		stderr:         c.App.ErrWriter,
	}
	for _, ctx := range c.Lineage() {
		cfg.json = cfg.json || ctx.Bool("json")
	}
	if cfg.walletPath == "" {
		dir, err := defaultDataDir(p.Network)
		if err != nil {
			return nil, err
		}
		cfg.walletPath = filepath.Join(dir, "wallet")
	}
	if cfg.rpcURL == "" {
		cfg.rpcURL = fmt.Sprintf("http://127.0.0.1:%d", p.RPCPort)
	}
	cfg.rpcURL = normalizeURL(cfg.rpcURL)
	if (cfg.rpcUser == "") != (cfg.rpcPassword == "") {
		return nil, errors.New("--rpc-user and --rpc-password go together")
	}
	return cfg, nil
}

// defaultDataDir returns ~/.tally/<network>.
func defaultDataDir(network string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the default wallet path (give --wallet): %w", err)
	}
	return filepath.Join(home, ".tally", network), nil
}

// normalizeURL accepts HOST:PORT (as noded writes to rpc.addr) as well as
// a full URL.
func normalizeURL(u string) string {
	u = strings.TrimSpace(u)
	if !strings.Contains(u, "://") {
		return "http://" + u
	}
	return u
}

// cookiePath returns the cookie file to authenticate with: --rpc-cookie,
// else .cookie beside the wallet file, else ~/.tally/<network>/.cookie,
// or "" if none of the defaults exists.
func (cfg *config) cookiePath() string {
	if cfg.rpcCookie != "" {
		return cfg.rpcCookie
	}
	candidates := []string{filepath.Join(filepath.Dir(cfg.walletPath), ".cookie")}
	if dir, err := defaultDataDir(cfg.params.Network); err == nil {
		candidates = append(candidates, filepath.Join(dir, ".cookie"))
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// headersPath is the light client's header file, beside the wallet.
func (cfg *config) headersPath() string {
	return filepath.Join(filepath.Dir(cfg.walletPath), "headers.dat")
}

// print writes v as one JSON object with --json, otherwise calls text.
func (cfg *config) print(v any, text func(w io.Writer)) error {
	if cfg.json {
		enc := json.NewEncoder(cfg.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(cfg.stdout)
	return nil
}

// note writes a line for the user on stderr (never part of --json
// output).
func (cfg *config) note(format string, args ...any) {
	fmt.Fprintf(cfg.stderr, format+"\n", args...)
}

// passphrase returns the keystore passphrase: from --passphrase-file (its
// first line), else $TALLY_PASSPHRASE, else a prompt on the terminal
// (twice with confirm).
func (cfg *config) passphrase(confirm bool) ([]byte, error) {
	if cfg.passphraseFile != "" {
		data, err := os.ReadFile(cfg.passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("reading --passphrase-file: %w", err)
		}
		line, _, _ := bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return nil, fmt.Errorf("--passphrase-file %s: the first line is empty", cfg.passphraseFile)
		}
		return line, nil
	}
	if v, ok := os.LookupEnv(passphraseEnv); ok {
		if v == "" {
			return nil, fmt.Errorf("$%s is set but empty", passphraseEnv)
		}
		return []byte(v), nil
	}
	tty, err := openTerminal()
	if err != nil {
		return nil, fmt.Errorf("no passphrase: give --passphrase-file FILE or set $%s (there is no terminal to prompt on)", passphraseEnv)
	}
	defer tty.Close()
	pass, err := readHidden(tty, "Keystore passphrase: ")
	if err != nil {
		return nil, err
	}
	if len(pass) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		again, err := readHidden(tty, "Repeat the passphrase: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pass, again) {
			return nil, errors.New("the passphrases differ")
		}
	}
	return pass, nil
}

// openTerminal opens the controlling terminal for prompts.
func openTerminal() (*os.File, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, errors.New("not a terminal")
	}
	return f, nil
}

// readHidden prompts on tty and reads a line without echo.
func readHidden(tty *os.File, prompt string) ([]byte, error) {
	fmt.Fprint(tty, prompt)
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading from the terminal: %w", err)
	}
	return b, nil
}

// confirm asks a yes/no question on the terminal; no terminal means no.
func confirm(question string) (bool, error) {
	tty, err := openTerminal()
	if err != nil {
		return false, err
	}
	defer tty.Close()
	fmt.Fprint(tty, question+" [y/N] ")
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// network is the keystore network of the configured params.
func (cfg *config) network() wallet.Network {
	return wallet.Network{Name: cfg.params.Network, AddressPrefix: cfg.params.AddressPrefix}
}

// openWallet opens the keystore and checks that it belongs to the
// configured network.
func (cfg *config) openWallet() (*wallet.Wallet, error) {
	if _, err := os.Stat(cfg.walletPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no wallet at %s: create one with 'wallet create', or give --wallet FILE (and --dev for the dev network)", cfg.walletPath)
	}
	pass, err := cfg.passphrase(false)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	w, err := wallet.Open(cfg.walletPath, pass)
	if err != nil {
		return nil, err
	}
	if n := w.Network(); n != cfg.network() {
		return nil, fmt.Errorf("wallet %s is for network %s (prefix %s), not %s: use --dev or --genesis to pick its network",
			cfg.walletPath, n.Name, n.AddressPrefix, cfg.params.Network)
	}
	return w, nil
}

// openPublic returns the wallet's addresses without the passphrase (the
// keystore's clear part). A keystore written before it had one is opened
// with the passphrase instead; its next save adds the clear part.
func (cfg *config) openPublic() ([]wallet.Address, error) {
	if _, err := os.Stat(cfg.walletPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no wallet at %s: create one with 'wallet create', or give --wallet FILE (and --dev for the dev network)", cfg.walletPath)
	}
	pub, err := wallet.OpenPublic(cfg.walletPath)
	if errors.Is(err, wallet.ErrNoPublicData) {
		w, err := cfg.openWallet()
		if err != nil {
			return nil, err
		}
		return w.Addresses(), nil
	}
	if err != nil {
		return nil, err
	}
	if pub.Network != cfg.network() {
		return nil, fmt.Errorf("wallet %s is for network %s (prefix %s), not %s: use --dev or --genesis to pick its network",
			cfg.walletPath, pub.Network.Name, pub.Network.AddressPrefix, cfg.params.Network)
	}
	return pub.Addresses, nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
