package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"tally/wallet"
)

const seedWarning = "Write this seed down and keep it offline: it restores every address of this wallet. " +
	"Anyone who sees it can spend your coins. It is shown only this once."

func createCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "create a new wallet with a fresh seed (shown once)",
		Flags: withJSON(),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			seed, err := wallet.NewSeed(rand.Reader)
			if err != nil {
				return err
			}
			defer clear(seed)
			w, addr, err := cfg.createWallet(seed)
			if err != nil {
				return err
			}
			encoded := wallet.EncodeSeed(seed)
			out := map[string]any{
				"wallet": w.Path(), "network": cfg.params.Network, "address": addr.Address,
				"seed": encoded, "warning": seedWarning,
			}
			return cfg.print(out, func(o io.Writer) {
				fmt.Fprintf(o, "Created wallet %s (%s)\nFirst address: %s\n\nSeed:\n\n    %s\n\n%s\n",
					w.Path(), cfg.params.Network, addr.Address, groupSeed(encoded), seedWarning)
			})
		},
	}
}

// groupSeed splits an encoded seed into groups of 8 digits for writing
// down (DecodeSeed ignores the spaces).
func groupSeed(s string) string {
	var groups []string
	for i := 0; i < len(s); i += 8 {
		groups = append(groups, s[i:min(i+8, len(s))])
	}
	return strings.Join(groups, " ")
}

// createWallet makes the keystore at the configured path with seed and
// its first address.
func (cfg *config) createWallet(seed []byte) (*wallet.Wallet, wallet.Address, error) {
	if _, err := os.Stat(cfg.walletPath); err == nil {
		return nil, wallet.Address{}, fmt.Errorf("%w: %s (choose another --wallet path)", wallet.ErrExists, cfg.walletPath)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.walletPath), 0o700); err != nil {
		return nil, wallet.Address{}, fmt.Errorf("making the wallet directory: %w", err)
	}
	pass, err := cfg.passphrase(true)
	if err != nil {
		return nil, wallet.Address{}, err
	}
	defer clear(pass)
	w, err := wallet.Create(cfg.walletPath, pass, seed, cfg.network(), wallet.KDFParams{})
	if err != nil {
		return nil, wallet.Address{}, err
	}
	addr, err := w.NewAddress()
	if err != nil {
		return nil, wallet.Address{}, err
	}
	if err := w.Save(); err != nil {
		return nil, wallet.Address{}, err
	}
	return w, addr, nil
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "create a wallet from an existing seed, read from standard input or a prompt",
		UsageText: "echo SEED | wallet import [--addresses N]   (or type the seed at the prompt)",
		Flags: withJSON(
			&cli.IntFlag{Name: "addresses", Value: 1, Usage: "derive the first `N` addresses"},
		),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			n := c.Int("addresses")
			if n < 1 || n > 10000 {
				return errors.New("--addresses must be between 1 and 10000")
			}
			text, err := cfg.readSeed()
			if err != nil {
				return err
			}
			seed, err := wallet.DecodeSeed(text)
			if err != nil {
				return err
			}
			defer clear(seed)
			w, first, err := cfg.createWallet(seed)
			if err != nil {
				return err
			}
			addrs := []string{first.Address}
			for len(addrs) < n {
				a, err := w.NewAddress()
				if err != nil {
					return err
				}
				addrs = append(addrs, a.Address)
			}
			if err := w.Save(); err != nil {
				return err
			}
			return cfg.print(map[string]any{"wallet": w.Path(), "network": cfg.params.Network, "addresses": addrs},
				func(o io.Writer) {
					fmt.Fprintf(o, "Restored wallet %s (%s) with %d address(es):\n", w.Path(), cfg.params.Network, len(addrs))
					for _, a := range addrs {
						fmt.Fprintln(o, "  "+a)
					}
				})
		},
	}
}

// readSeed reads the seed: a hidden prompt on the terminal when standard
// input is one, else the whole of standard input.
func (cfg *config) readSeed() (string, error) {
	if f, ok := cfg.stdin.(*os.File); ok && isTerminal(f) {
		b, err := readHidden(f, "Seed (72 hex digits, spaces allowed): ")
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(cfg.stdin, 4096))
	if err != nil {
		return "", fmt.Errorf("reading the seed from standard input: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", errors.New("no seed on standard input (pipe it in, or run in a terminal to be prompted)")
	}
	return string(b), nil
}

func addressCommand() *cli.Command {
	return &cli.Command{
		Name:  "address",
		Usage: "the wallet's addresses",
		Subcommands: []*cli.Command{
			{
				Name:  "new",
				Usage: "derive a new receiving address",
				Flags: withJSON(&cli.StringFlag{Name: "label", Usage: "a `LABEL` for the address"}),
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					w, err := cfg.openWallet()
					if err != nil {
						return err
					}
					a, err := w.NewAddress()
					if errors.Is(err, wallet.ErrNoSeed) {
						return fmt.Errorf("wallet %s holds imported keys only and no seed: it cannot derive new addresses (create a wallet with 'wallet create' to receive on new addresses)", w.Path())
					}
					if err != nil {
						return err
					}
					if l := c.String("label"); l != "" {
						if err := w.SetLabel(a.PKH, l); err != nil {
							return err
						}
						a.Label = l
					}
					if err := w.Save(); err != nil {
						return err
					}
					return cfg.print(addressJSON(a), func(o io.Writer) { fmt.Fprintln(o, a.Address) })
				},
			},
			{
				Name:  "list",
				Usage: "list the wallet's addresses",
				Flags: withJSON(),
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					addrs, err := cfg.openPublic()
					if err != nil {
						return err
					}
					var list []map[string]any
					for _, a := range addrs {
						list = append(list, addressJSON(a))
					}
					return cfg.print(map[string]any{"addresses": list}, func(o io.Writer) {
						for _, a := range addrs {
							kind := fmt.Sprintf("index %d", a.Index)
							if a.Imported {
								kind = "imported"
							}
							fmt.Fprintf(o, "%s  %s  %s\n", a.Address, kind, a.Label)
						}
					})
				},
			},
		},
	}
}

func addressJSON(a wallet.Address) map[string]any {
	m := map[string]any{"address": a.Address, "imported": a.Imported}
	if !a.Imported {
		m["index"] = a.Index
	}
	if a.Label != "" {
		m["label"] = a.Label
	}
	return m
}
