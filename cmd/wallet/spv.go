package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"tally/wallet/spv"
	"tally/wire"
)

func sourceFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "source", Usage: "also ask the node at `URL` (repeatable; credentials as for --rpc, or user:password@ in the URL)"}
}

// lightClient opens the header file beside the wallet and returns a light
// client asking --rpc and every --source.
func lightClient(c *cli.Context, cfg *config) (*spv.Client, func(), error) {
	store, err := spv.OpenStore(cfg.headersPath(), cfg.params)
	if err != nil {
		return nil, nil, err
	}
	if r := store.Repaired(); r != nil {
		cfg.note("header file %s was damaged and cut back to height %d: %v", cfg.headersPath(), store.Height(), r)
	}
	urls := append([]string{cfg.rpcURL}, c.StringSlice("source")...)
	seen := make(map[string]bool)
	var sources []spv.HeaderSource
	for _, u := range urls {
		u = normalizeURL(u)
		if seen[u] {
			continue
		}
		seen[u] = true
		n, err := cfg.connectURL(u)
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		sources = append(sources, n.source())
	}
	lc := spv.NewClient(cfg.params, store, sources...)
	if !cfg.json {
		last := time.Now()
		lc.Progress = func(src string, tip spv.Tip) {
			if time.Since(last) >= time.Second {
				last = time.Now()
				cfg.note("headers: height %d from %s", tip.Height, src)
			}
		}
	}
	return lc, func() { store.Close() }, nil
}

// syncJSON is one source's sync result.
type syncJSON struct {
	Source   string `json:"source"`
	Fork     uint64 `json:"fork_height"`
	Accepted int    `json:"accepted"`
	Switched bool   `json:"switched"`
	Error    string `json:"error,omitempty"`
}

// syncHeaders runs a sync and describes its results.
func syncHeaders(ctx context.Context, lc *spv.Client) ([]syncJSON, error) {
	results, err := lc.Sync(ctx)
	out := make([]syncJSON, len(results))
	for i, r := range results {
		out[i] = syncJSON{Source: r.Source, Fork: r.Fork, Accepted: r.Accepted, Switched: r.Switched}
		if r.Err != nil {
			out[i].Error = oneLine(r.Err)
		}
	}
	return out, err
}

func headersCommand() *cli.Command {
	return &cli.Command{
		Name:  "headers",
		Usage: "the light client's header chain",
		Subcommands: []*cli.Command{{
			Name:  "sync",
			Usage: "download and verify headers from the node (and --source nodes), keeping the most-work chain",
			Flags: withJSON(sourceFlag()),
			Action: func(c *cli.Context) error {
				cfg, err := loadConfig(c)
				if err != nil {
					return err
				}
				lc, done, err := lightClient(c, cfg)
				if err != nil {
					return err
				}
				defer done()
				results, err := syncHeaders(c.Context, lc)
				if err != nil {
					return fmt.Errorf("header sync failed: %w", err)
				}
				tip := lc.Store().Tip()
				out := map[string]any{
					"height": tip.Height, "tip": tip.ID.String(), "chainwork": fmt.Sprintf("%064x", tip.Work),
					"file": cfg.headersPath(), "sources": results,
				}
				return cfg.print(out, func(o io.Writer) {
					for _, r := range results {
						switch {
						case r.Error != "":
							fmt.Fprintf(o, "%s: %s\n", r.Source, r.Error)
						case r.Switched:
							fmt.Fprintf(o, "%s: switched to its heavier branch from height %d (+%d headers)\n", r.Source, r.Fork, r.Accepted)
						default:
							fmt.Fprintf(o, "%s: +%d headers\n", r.Source, r.Accepted)
						}
					}
					fmt.Fprintf(o, "Header chain at height %d, tip %s\n", tip.Height, tip.ID)
				})
			},
		}},
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "prove with the light client that a transaction is in the most-work chain",
		UsageText: "wallet [global flags] verify TXID [--source URL]... [--confirmations N]",
		Flags: withJSON(sourceFlag(),
			&cli.Uint64Flag{Name: "confirmations", Value: 1, Usage: "fail unless the transaction has at least `N` confirmations"},
			&cli.BoolFlag{Name: "no-sync", Usage: "check against the stored headers without syncing first"},
		),
		Action: func(c *cli.Context) error {
			args, err := positionalArgs(c)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return errors.New("verify takes one TXID (64 hex digits)")
			}
			txid, err := wire.ParseHash(args[0])
			if err != nil {
				return fmt.Errorf("TXID %q: %w", args[0], err)
			}
			lc, done, err := lightClient(c, cfg)
			if err != nil {
				return err
			}
			defer done()
			var results []syncJSON
			if !c.Bool("no-sync") {
				results, err = syncHeaders(c.Context, lc)
				for _, r := range results {
					if r.Error != "" && !cfg.json {
						cfg.note("headers from %s: %s", r.Source, r.Error)
					}
				}
				if err != nil {
					// Check against the headers we have; the proof may
					// still be for a block we know.
					cfg.note("header sync failed, checking against the stored headers (height %d): %s", lc.Store().Height(), oneLine(err))
				}
			}
			conf, err := lc.VerifyTx(c.Context, txid)
			if err != nil {
				return fmt.Errorf("transaction %s NOT verified: %w", txid, err)
			}
			if min := c.Uint64("confirmations"); conf.Confirmations < min {
				return fmt.Errorf("transaction %s is in block %s at height %d but has %d confirmation(s), fewer than %d", txid, conf.BlockID, conf.Height, conf.Confirmations, min)
			}
			out := map[string]any{
				"txid": txid.String(), "verified": true, "block_height": conf.Height, "blockhash": conf.BlockID.String(),
				"confirmations": conf.Confirmations, "tip_height": conf.TipHeight, "sources": results,
			}
			return cfg.print(out, func(o io.Writer) {
				fmt.Fprintf(o, "Verified: %s is in block %s at height %d, %d confirmation(s) on the most-work header chain (tip %d)\n",
					txid, conf.BlockID, conf.Height, conf.Confirmations, conf.TipHeight)
			})
		},
	}
}
