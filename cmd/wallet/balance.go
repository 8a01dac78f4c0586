package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/urfave/cli/v2"

	"tally/wallet"
	"tally/wire"
)

// walletNode opens the wallet and connects to the node, checking that the
// node runs the wallet's network.
func (cfg *config) walletNode(ctx context.Context) (*wallet.Wallet, *node, error) {
	w, err := cfg.openWallet()
	if err != nil {
		return nil, nil, err
	}
	n, err := cfg.connect()
	if err != nil {
		return nil, nil, err
	}
	if err := n.checkNetwork(ctx, cfg); err != nil {
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
	n, err := cfg.connect()
	if err != nil {
		return nil, nil, err
	}
	if err := n.checkNetwork(ctx, cfg); err != nil {
		return nil, nil, err
	}
	return addrs, n, nil
}

// balances sums coins by state.
type balances struct {
	Confirmed   uint64 // confirmed and spendable
	Immature    uint64 // confirmed coinbase outputs not yet mature
	Unconfirmed uint64 // outputs of mempool transactions
	Spending    uint64 // outputs a mempool transaction spends (in no other sum)
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

func balanceCommand() *cli.Command {
	return &cli.Command{
		Name:  "balance",
		Usage: "the wallet's balance, from the node's address index",
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
			coins, _, err := n.coins(c.Context, cfg, addrs, tip)
			if err != nil {
				return err
			}
			total := sumCoins(coins)
			type addrBal struct {
				Address     string `json:"address"`
				Confirmed   string `json:"confirmed"`
				Immature    string `json:"immature"`
				Unconfirmed string `json:"unconfirmed"`
				Spending    string `json:"spending"`
			}
			var per []addrBal
			for _, a := range addrs {
				var mine []coin
				for _, c := range coins {
					if c.PKH == a.PKH {
						mine = append(mine, c)
					}
				}
				b := sumCoins(mine)
				per = append(per, addrBal{a.Address, wallet.FormatAmount(b.Confirmed), wallet.FormatAmount(b.Immature),
					wallet.FormatAmount(b.Unconfirmed), wallet.FormatAmount(b.Spending)})
			}
			out := map[string]any{
				"confirmed":        wallet.FormatAmount(total.Confirmed),
				"immature":         wallet.FormatAmount(total.Immature),
				"unconfirmed":      wallet.FormatAmount(total.Unconfirmed),
				"spending":         wallet.FormatAmount(total.Spending),
				"confirmed_base":   total.Confirmed,
				"immature_base":    total.Immature,
				"unconfirmed_base": total.Unconfirmed,
				"spending_base":    total.Spending,
				"unit":             "TALLY",
				"height":           tip,
				"utxos":            len(coins),
				"addresses":        per,
			}
			return cfg.print(out, func(o io.Writer) {
				fmt.Fprintf(o, "Confirmed:   %s TALLY\n", wallet.FormatAmount(total.Confirmed))
				if total.Immature > 0 {
					fmt.Fprintf(o, "Immature:    %s TALLY (mined, spendable after %d confirmations)\n", wallet.FormatAmount(total.Immature), cfg.params.CoinbaseMaturity)
				}
				fmt.Fprintf(o, "Unconfirmed: %s TALLY\n", wallet.FormatAmount(total.Unconfirmed))
				if total.Spending > 0 {
					fmt.Fprintf(o, "Being spent: %s TALLY (by unconfirmed transactions, in neither sum above)\n", wallet.FormatAmount(total.Spending))
				}
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
		Usage: "the wallet's transactions and their net amounts (the node needs --addrindex and --txindex)",
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
			entries, err := history(c.Context, cfg, n, addrs)
			if err != nil {
				return err
			}
			return cfg.print(map[string]any{"transactions": entries}, func(o io.Writer) {
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
			})
		},
	}
}

// history builds the wallet's transaction list: the txids the address
// index gives, each transaction fetched and decoded, the amounts the
// wallet received and spent computed from the outputs and from the
// outputs its inputs spend.
// The genesis coinbase, which no node serves with getrawtransaction, comes
// from the network's parameters.
func history(ctx context.Context, cfg *config, n *node, addrs []wallet.Address) ([]historyEntry, error) {
	genesisCoinbase := cfg.params.Genesis.Txs[0]
	tip, err := n.blockCount(ctx)
	if err != nil {
		return nil, err
	}
	mine := make(map[[20]byte]bool, len(addrs))
	for _, a := range addrs {
		mine[a.PKH] = true
	}
	// The wallet's own pending transactions, then the confirmed ones.
	_, ids, err := n.coins(ctx, cfg, addrs, tip)
	if err != nil {
		return nil, err
	}
	seen := make(map[wire.Hash]bool)
	for _, id := range ids {
		seen[id] = true
	}
	for _, a := range addrs {
		got, err := n.addressTxIDs(ctx, a.Address)
		if err != nil {
			return nil, err
		}
		for _, id := range got {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
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
	var out []historyEntry
	for _, id := range ids {
		t, err := fetch(id)
		if err != nil {
			return nil, err
		}
		e := historyEntry{TxID: id.String(), Height: t.Height, Confirmations: t.Confirmations, Time: t.Time}
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
				return nil, err
			}
			if int(in.Prev.Index) >= len(prev.Tx.Outputs) {
				return nil, fmt.Errorf("transaction %s spends output %d of %s, which has %d", id, in.Prev.Index, in.Prev.TxID, len(prev.Tx.Outputs))
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
	// Oldest first; unconfirmed last.
	slices.SortStableFunc(out, func(a, b historyEntry) int {
		ka, kb := a.Height, b.Height
		if ka < 0 {
			ka = 1 << 62
		}
		if kb < 0 {
			kb = 1 << 62
		}
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return out, nil
}
