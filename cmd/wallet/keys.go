package main

import (
	"context"
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

const seedWarning = "Write these words down, in order, and keep them offline: they restore every address of this wallet " +
	"(with 'wallet import'). Anyone who sees them can spend your coins. They are shown only this once."

// bip39PassFlag reads the optional BIP 39 passphrase (the "25th word").
func bip39PassFlag() cli.Flag {
	return &cli.StringFlag{Name: "bip39-passphrase-file", Usage: "read an optional BIP 39 passphrase from `FILE` (it is needed again to restore)"}
}

// bip39Passphrase returns the BIP 39 passphrase from --bip39-passphrase-file
// (its first line), or "".
func bip39Passphrase(c *cli.Context) (string, error) {
	f := c.String("bip39-passphrase-file")
	if f == "" {
		return "", nil
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("reading --bip39-passphrase-file: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

func createCommand() *cli.Command {
	return &cli.Command{
		Name:  "create",
		Usage: "create a new wallet from fresh BIP 39 recovery words (shown once)",
		Flags: withJSON(
			&cli.IntFlag{Name: "words", Value: 12, Usage: "number of recovery words: 12 or 24"},
			bip39PassFlag(),
		),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if n := c.Int("words"); n != 12 && n != 24 {
				return usagef("--words %d: choose 12 or 24", n)
			}
			bpass, err := bip39Passphrase(c)
			if err != nil {
				return err
			}
			words, err := wallet.NewMnemonic(rand.Reader, c.Int("words"))
			if err != nil {
				return err
			}
			seed, err := wallet.MnemonicSeed(words, bpass)
			if err != nil {
				return err
			}
			defer clear(seed)
			w, err := cfg.createWallet(seed)
			if err != nil {
				return err
			}
			addr, err := w.NewAddress()
			if err != nil {
				return err
			}
			if err := w.Save(); err != nil {
				return err
			}
			out := map[string]any{
				"wallet": w.Path(), "network": cfg.params.Network, "address": addr.Address,
				"words": words, "warning": seedWarning,
			}
			return cfg.print(out, func(o io.Writer) {
				fmt.Fprintf(o, "Created wallet %s (%s)\nFirst address: %s\n\nRecovery words:\n\n%s\n%s\n",
					w.Path(), cfg.params.Network, addr.Address, numberWords(words), seedWarning)
			})
		},
	}
}

// numberWords lays the words out numbered, four to a line.
func numberWords(words string) string {
	var b strings.Builder
	for i, w := range strings.Fields(words) {
		fmt.Fprintf(&b, "  %2d. %-10s", i+1, w)
		if i%4 == 3 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// createWallet makes the keystore at the configured path with seed (no
// address yet).
func (cfg *config) createWallet(seed []byte) (*wallet.Wallet, error) {
	if _, err := os.Stat(cfg.walletPath); err == nil {
		return nil, fmt.Errorf("%w: %s (choose another --wallet path)", wallet.ErrExists, cfg.walletPath)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.walletPath), 0o700); err != nil {
		return nil, fmt.Errorf("making the wallet directory: %w", err)
	}
	pass, err := cfg.passphrase(true)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return wallet.Create(cfg.walletPath, pass, seed, cfg.network(), wallet.KDFParams{})
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "restore a wallet from its recovery words (or a legacy 72-digit seed), read from standard input or a prompt, and find its used addresses",
		UsageText: "echo WORDS | wallet import [--no-scan]   (or type the words at the prompt)\n\n" +
			"The restore scans both chains (receive and change) on the node, address after address, until 20 in a row were never used.",
		Flags: withJSON(
			bip39PassFlag(),
			&cli.BoolFlag{Name: "no-scan", Usage: "do not ask the node which addresses were used (derive the first receive address only)"},
			&cli.IntFlag{Name: "addresses", Value: 1, Usage: "derive at least the first `N` receive addresses"},
		),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			n := c.Int("addresses")
			if n < 1 || n > 10000 {
				return usagef("--addresses must be between 1 and 10000")
			}
			text, err := cfg.readSeed()
			if err != nil {
				return err
			}
			var seed []byte
			if looksLikeLegacySeed(text) {
				seed, err = wallet.DecodeSeed(text)
			} else {
				var bpass string
				if bpass, err = bip39Passphrase(c); err == nil {
					seed, err = wallet.MnemonicSeed(text, bpass)
				}
			}
			if err != nil {
				return err
			}
			defer clear(seed)
			var n0 *node
			if !c.Bool("no-scan") {
				// Check the node before making the keystore: a restore that
				// cannot scan would silently miss funds.
				if n0, err = cfg.connect(); err == nil {
					err = n0.checkNetwork(c.Context, cfg)
				}
				if err != nil {
					return fmt.Errorf("the restore scans the node for used addresses: %w (or give --no-scan)", err)
				}
			}
			w, err := cfg.createWallet(seed)
			if err != nil {
				return err
			}
			if err := w.AddressesUpTo(false, uint32(n-1)); err != nil {
				return err
			}
			used := map[string]int{}
			if n0 != nil {
				if used, err = scanUsed(c.Context, n0, w); err != nil {
					return fmt.Errorf("scanning for used addresses (the wallet file %s was made; rerun import after moving it away): %w", w.Path(), err)
				}
			}
			if err := w.Save(); err != nil {
				return err
			}
			var addrs []string
			for _, a := range w.Addresses() {
				addrs = append(addrs, a.Address)
			}
			return cfg.print(map[string]any{"wallet": w.Path(), "network": cfg.params.Network, "addresses": addrs,
				"used_receive": used["receive"], "used_change": used["change"]},
				func(o io.Writer) {
					fmt.Fprintf(o, "Restored wallet %s (%s): %d used receive and %d used change address(es) found, %d address(es) kept:\n",
						w.Path(), cfg.params.Network, used["receive"], used["change"], len(addrs))
					for _, a := range addrs {
						fmt.Fprintln(o, "  "+a)
					}
				})
		},
	}
}

// looksLikeLegacySeed reports whether text is a hex seed (72 digits,
// written by wallets before recovery words) rather than words.
func looksLikeLegacySeed(text string) bool {
	digits := 0
	for _, r := range text {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '-':
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f', 'A' <= r && r <= 'F':
			digits++
		default:
			return false
		}
	}
	return digits > 0
}

// scanUsed finds the used addresses of both chains (a legacy seed has only
// the receive chain): it derives addresses in order and asks the node
// whether any transaction paid or spent each, until GapLimit in a row
// were never used, and adds every address up to the last used one. It
// returns the number of used addresses per chain.
func scanUsed(ctx context.Context, n *node, w *wallet.Wallet) (map[string]int, error) {
	used := map[string]int{}
	for _, change := range []bool{false, true} {
		name := map[bool]string{false: "receive", true: "change"}[change]
		last := -1
		for i, gap := 0, 0; gap < wallet.GapLimit; i++ {
			a, err := w.DeriveAddress(change, uint32(i))
			if change && err != nil {
				break // a legacy seed: no change chain
			}
			if err != nil {
				return nil, err
			}
			pg, err := n.c.GetAddressHistoryPage(ctx, a.Address, "", 1)
			if err != nil {
				return nil, addrIndexHint(n.hint(err))
			}
			if len(pg.History) > 0 {
				used[name]++
				last, gap = i, 0
			} else {
				gap++
			}
		}
		if last >= 0 {
			if err := w.AddressesUpTo(change, uint32(last)); err != nil {
				return nil, err
			}
		}
	}
	return used, nil
}

// readSeed reads the recovery words (or a legacy seed): a hidden prompt
// on the terminal when standard input is one, else the whole of standard
// input.
func (cfg *config) readSeed() (string, error) {
	if f, ok := cfg.stdin.(*os.File); ok && isTerminal(f) {
		b, err := readHidden(f, "Recovery words (separated by spaces): ")
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(cfg.stdin, 4096))
	if err != nil {
		return "", fmt.Errorf("reading the recovery words from standard input: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", usagef("no recovery words on standard input (pipe them in, or run in a terminal to be prompted)")
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
							if a.Change {
								kind = fmt.Sprintf("change %d", a.Index)
							}
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
	if a.Change {
		m["change"] = true
	}
	if a.Label != "" {
		m["label"] = a.Label
	}
	return m
}
