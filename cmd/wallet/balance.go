package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"tally/wallet"
	"tally/wire"
)

// checkedNode connects to the node and checks that it runs the wallet's
// network.
func (cfg *config) checkedNode(ctx context.Context) (*node, error) {
	n, err := cfg.connect()
	if err != nil {
		return nil, err
	}
	if err := n.checkNetwork(ctx, cfg); err != nil {
		return nil, err
	}
	return n, nil
}

// walletNode opens the wallet and connects to the node, checking that the
// node runs the wallet's network.
func (cfg *config) walletNode(ctx context.Context) (*wallet.Wallet, *node, error) {
	w, err := cfg.openWallet()
	if err != nil {
		return nil, nil, err
	}
	n, err := cfg.checkedNode(ctx)
	if err != nil {
		return nil, nil, err
	}
	return w, n, nil
}

// publicNode reads the wallet's addresses (no passphrase) and connects to
// the node, checking that it runs the wallet's network.
func (cfg *config) publicNode(ctx context.Context) ([]wallet.Address, *node, error) {
	addrs, err := cfg.openPublic()
	if err != nil {
		return nil, nil, err
	}
	n, err := cfg.checkedNode(ctx)
	if err != nil {
		return nil, nil, err
	}
	return addrs, n, nil
}

// balances sums coins by state.
type balances struct {
	Confirmed   uint64 // confirmed and spendable
	Immature    uint64 // confirmed coinbase outputs not yet mature
	Unconfirmed uint64 // unconfirmed incoming: outputs of pool transactions paying the wallet (its change too)
	Spending    uint64 // unconfirmed outgoing: coins a pool transaction spends (in no other sum)
}

func sumCoins(coins []coin) balances {
	var b balances
	for _, c := range coins {
		switch {
		case c.Spending:
			b.Spending += c.Amount
		case c.Confirmations <= 0:
			b.Unconfirmed += c.Amount
		case c.Immature:
			b.Immature += c.Amount
		default:
			b.Confirmed += c.Amount
		}
	}
	return b
}

// staleTip is how old the node's tip may be before balance warns that
// the node may be behind.
const staleTip = 2 * time.Hour

// syncWarning returns a warning when the node is still in its initial
// sync or its tip is old: its balances may be missing recent payments.
func (n *node) syncWarning(ctx context.Context, now time.Time) string {
	info, err := n.c.GetBlockchainInfo(ctx)
	if err != nil {
		return ""
	}
	age := now.Sub(time.Unix(int64(info.Time), 0))
	switch {
	case info.InitialBlockDownload:
		return fmt.Sprintf("the node is still in its initial sync (height %d of %d headers): balances may be incomplete", info.Blocks, info.Headers)
	case age > staleTip:
		return fmt.Sprintf("the node's last block is %s old: it may be behind, and balances may miss recent payments", age.Round(time.Minute))
	}
	return ""
}

func balanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "balance",
		Usage: "the wallet's balance from the node's address index (no passphrase needed)",
		Flags: withJSON(),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			addrs, n, err := cfg.publicNode(c.Context)
			if err != nil {
				return err
			}
			tip, err := n.blockCount(c.Context)
			if err != nil {
				return err
			}
			coins, err := n.coins(c.Context, cfg, addrs, tip)
			if err != nil {
				return err
			}
			warning := n.syncWarning(c.Context, time.Now())
			total := sumCoins(coins)
			type addrBal struct {
				Address     string `json:"address"`
				Confirmed   string `json:"confirmed"`
				Immature    string `json:"immature"`
				Unconfirmed string `json:"unconfirmed"`
				Spending    string `json:"spending"`
			}
			byPKH := make(map[[20]byte][]coin)
			for _, c := range coins {
				byPKH[c.PKH] = append(byPKH[c.PKH], c)
			}
			var per []addrBal
			for _, a := range addrs {
				b := sumCoins(byPKH[a.PKH])
				per = append(per, addrBal{a.Address, wallet.FormatAmount(b.Confirmed), wallet.FormatAmount(b.Immature),
					wallet.FormatAmount(b.Unconfirmed), wallet.FormatAmount(b.Spending)})
			}
			out := map[string]any{
				"confirmed":                 wallet.FormatAmount(total.Confirmed),
				"immature":                  wallet.FormatAmount(total.Immature),
				"unconfirmed":               wallet.FormatAmount(total.Unconfirmed),
				"spending":                  wallet.FormatAmount(total.Spending),
				"unconfirmed_incoming":      wallet.FormatAmount(total.Unconfirmed),
				"unconfirmed_outgoing":      wallet.FormatAmount(total.Spending),
				"confirmed_base":            total.Confirmed,
				"immature_base":             total.Immature,
				"unconfirmed_base":          total.Unconfirmed,
				"spending_base":             total.Spending,
				"unconfirmed_incoming_base": total.Unconfirmed,
				"unconfirmed_outgoing_base": total.Spending,
				"unit":                      "TALLY",
				"height":                    tip,
				"utxos":                     len(coins),
				"addresses":                 per,
			}
			if warning != "" {
				out["warning"] = warning
			}
			return cfg.print(out, func(o io.Writer) {
				if warning != "" {
					fmt.Fprintf(o, "WARNING: %s\n", warning)
				}
				fmt.Fprintf(o, "Confirmed:             %s TALLY\n", wallet.FormatAmount(total.Confirmed))
				if total.Immature > 0 {
					fmt.Fprintf(o, "Immature:              %s TALLY (mined, spendable after %d confirmations)\n", wallet.FormatAmount(total.Immature), cfg.params.CoinbaseMaturity)
				}
				fmt.Fprintf(o, "Unconfirmed incoming:  %s TALLY\n", wallet.FormatAmount(total.Unconfirmed))
				fmt.Fprintf(o, "Unconfirmed outgoing:  %s TALLY (coins being spent, in no sum above)\n", wallet.FormatAmount(total.Spending))
				fmt.Fprintf(o, "(%d unspent outputs on %d addresses, node at height %d)\n", len(coins), len(per), tip)
			})
		},
	}
}

// historyEntry is one transaction of the wallet.
type historyEntry struct {
	TxID          string `json:"txid"`
	Height        int64  `json:"height"` // -1 if unconfirmed
	Confirmations int64  `json:"confirmations"`
	Time          int64  `json:"time,omitempty"`
	Received      uint64 `json:"received_base"`
	Sent          uint64 `json:"sent_base"`
	Net           string `json:"net"` // TALLY, signed
	Fee           string `json:"fee,omitempty"`
	Memo          string `json:"memo,omitempty"`
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:  "history",
		Usage: "the wallet's transactions and their net amounts, oldest first (no passphrase needed; the node needs --addrindex and --txindex)",
		Flags: withJSON(
			&cli.IntFlag{Name: "limit", Value: 100, Usage: "show at most `N` transactions (0: all)"},
			&cli.IntFlag{Name: "skip", Usage: "skip the `N` newest transactions (page back with --skip 100, 200, ...)"},
		),
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			if c.Int("limit") < 0 || c.Int("skip") < 0 {
				return usagef("--limit and --skip must be 0 or more")
			}
			addrs, n, err := cfg.publicNode(c.Context)
			if err != nil {
				return err
			}
			entries, total, err := history(c.Context, cfg, n, addrs, c.Int("skip"), c.Int("limit"))
			if err != nil {
				return err
			}
			return cfg.print(map[string]any{"transactions": entries, "total": total}, func(o io.Writer) {
				if len(entries) == 0 {
					fmt.Fprintln(o, "No transactions.")
				}
				for _, e := range entries {
					where := "unconfirmed"
					if e.Height >= 0 {
						where = fmt.Sprintf("height %d (%d conf)", e.Height, e.Confirmations)
					}
					fmt.Fprintf(o, "%s  %14s TALLY  %s", e.TxID, e.Net, where)
					if e.Memo != "" {
						fmt.Fprintf(o, "  %q", e.Memo)
					}
					fmt.Fprintln(o)
				}
				if len(entries) < total {
					fmt.Fprintf(o, "(%d of %d transactions; see --limit and --skip)\n", len(entries), total)
				}
			})
		},
	}
}

// history builds a page of the wallet's transaction list: the txids the
// address index gives (paged from the node, merged over the wallet's
// addresses, oldest first, unconfirmed last), of which the newest limit
// after skipping skip are fetched and decoded, their amounts computed
// from their outputs and from the outputs their inputs spend. It returns
// the page and the number of transactions in all.
// The genesis coinbase, which no node serves with getrawtransaction, comes
// from the network's parameters.
func history(ctx context.Context, cfg *config, n *node, addrs []wallet.Address, skip, limit int) ([]historyEntry, int, error) {
	genesisCoinbase := cfg.params.Genesis.Txs[0]
	tip, err := n.blockCount(ctx)
	if err != nil {
		return nil, 0, err
	}
	mine := make(map[[20]byte]bool, len(addrs))
	for _, a := range addrs {
		mine[a.PKH] = true
	}
	type ref struct {
		id     wire.Hash
		height int64
	}
	seen := make(map[wire.Hash]bool)
	var refs []ref
	for _, a := range addrs {
		got, err := n.addressTxIDs(ctx, a.Address)
		if err != nil {
			return nil, 0, err
		}
		for _, e := range got {
			if seen[e.TxID] {
				continue
			}
			seen[e.TxID] = true
			r := ref{id: e.TxID, height: -1}
			if e.Height != nil {
				r.height = int64(*e.Height)
			}
			refs = append(refs, r)
		}
	}
	// Oldest first; unconfirmed last.
	key := func(r ref) int64 {
		if r.height < 0 {
			return 1 << 62
		}
		return r.height
	}
	slices.SortStableFunc(refs, func(a, b ref) int { return cmp.Compare(key(a), key(b)) })
	total := len(refs)
	end := max(total-skip, 0)
	start := 0
	if limit > 0 {
		start = max(end-limit, 0)
	}
	refs = refs[start:end]

	txs := map[wire.Hash]*rawTx{genesisCoinbase.TxID(): {Tx: genesisCoinbase, Height: 0, Confirmations: int64(tip) + 1}}
	fetch := func(id wire.Hash) (*rawTx, error) {
		if t, ok := txs[id]; ok {
			return t, nil
		}
		t, err := n.rawTransaction(ctx, id, tip)
		if err != nil {
			return nil, fmt.Errorf("%w (history needs a node run with --txindex)", err)
		}
		txs[id] = t
		return t, nil
	}
	out := make([]historyEntry, 0, len(refs))
	for _, r := range refs {
		t, err := fetch(r.id)
		if err != nil {
			return nil, 0, err
		}
		e := historyEntry{TxID: r.id.String(), Height: t.Height, Confirmations: t.Confirmations, Time: t.Time}
		var outSum, inSum uint64
		for _, o := range t.Tx.Outputs {
			outSum += o.Amount
			if mine[o.PKH] {
				e.Received += o.Amount
			}
		}
		for _, in := range t.Tx.Inputs {
			prev, err := fetch(in.Prev.TxID)
			if err != nil {
				return nil, 0, err
			}
			if int(in.Prev.Index) >= len(prev.Tx.Outputs) {
				return nil, 0, fmt.Errorf("transaction %s spends output %d of %s, which has %d", r.id, in.Prev.Index, in.Prev.TxID, len(prev.Tx.Outputs))
			}
			po := prev.Tx.Outputs[in.Prev.Index]
			inSum += po.Amount
			if mine[po.PKH] {
				e.Sent += po.Amount
			}
		}
		if e.Received >= e.Sent {
			e.Net = "+" + wallet.FormatAmount(e.Received-e.Sent)
		} else {
			e.Net = "-" + wallet.FormatAmount(e.Sent-e.Received)
		}
		if !t.Tx.IsCoinbase() && inSum >= outSum && e.Sent > 0 {
			e.Fee = wallet.FormatAmount(inSum - outSum)
		}
		if !t.Tx.IsCoinbase() && len(t.Tx.Extra) > 0 {
			e.Memo = string(t.Tx.Extra)
		}
		out = append(out, e)
	}
	return out, total, nil
}
