package main

import (
	"context"
	"errors"
	"fmt"
	"tally/rpc/rpcjson"
	"time"

	"github.com/urfave/cli/v2"

	"tally/consensus"
	"tally/wallet"
	"tally/wallet/spv"
	"tally/wire"
)

// Fee guard: send asks before paying a fee above feeWarnFraction of the
// amount or above feeWarnAbsolute base units, unless --yes.
const (
	feeWarnPercent  = 1
	feeWarnAbsolute = wallet.BaseUnitsPerTally / 100 // 0.01 TALLY
	feeTargetBlocks = 6
)

// defaultWaitTimeout bounds --wait.
const defaultWaitTimeout = time.Hour

// highFee reports whether fee deserves a confirmation for amount.
func highFee(fee, amount uint64) bool {
	return fee > feeWarnAbsolute || fee*100 > amount*feeWarnPercent
}

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "pay an address: select coins, check them, sign, submit, print the txid",
		UsageText: "wallet [global flags] send --to ADDR --amount AMOUNT|max [--fee-rate R] [--max-fee F] [--memo TEXT] [--wait N] [--yes]",
		Description: "Every coin spent is checked first against the wallet's own header chain (synced from the node): " +
			"its transaction must hash to its txid and a Merkle proof must place it in a block of the most-work chain; " +
			"the fee is computed from those checked amounts and refused above --max-fee. --amount max sends every " +
			"spendable coin, the fee deducted from the amount.",
		Flags: withJSON(
			&cli.StringFlag{Name: "to", Usage: "recipient `ADDRESS` (required)"},
			&cli.StringFlag{Name: "amount", Usage: "`AMOUNT` in TALLY (1.5), base units with the suffix base (150000000base), or max (required)"},
			&cli.Uint64Flag{Name: "fee-rate", Usage: "fee rate in base units per byte (default: the node's estimate, else its minimum relay fee)"},
			&cli.StringFlag{Name: "max-fee", Value: "0.1", Usage: "refuse to pay a fee above `AMOUNT` TALLY"},
			&cli.StringFlag{Name: "memo", Usage: fmt.Sprintf("a memo of at most %d bytes, stored in the transaction", consensus.MaxMemoBytes)},
			&cli.IntFlag{Name: "wait", Usage: "wait until the transaction has `N` confirmations"},
			&cli.DurationFlag{Name: "wait-timeout", Value: defaultWaitTimeout, Usage: "give up waiting after this long"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask before paying a high fee"},
		),
		Action: runSend,
	}
}

// sendResult is what send prints.
type sendResult struct {
	TxID          string `json:"txid"`
	To            string `json:"to"`
	Amount        string `json:"amount"`
	AmountBase    uint64 `json:"amount_base"`
	Fee           string `json:"fee"`
	FeeBase       uint64 `json:"fee_base"`
	FeeRate       uint64 `json:"fee_rate"`
	FeeRateSource string `json:"fee_rate_source"`
	Change        string `json:"change,omitempty"`
	ChangeAddress string `json:"change_address,omitempty"`
	Inputs        int    `json:"inputs"`
	Size          int    `json:"size"`
	Confirmations int64  `json:"confirmations"`
	Height        uint64 `json:"height,omitempty"`
	Replaces      string `json:"replaces,omitempty"`
}

// payment is a transaction being prepared: what it pays, from which
// coins, at what fee rate.
type payment struct {
	to       string
	toPKH    [20]byte
	amount   uint64 // 0 with sweep until funded
	sweep    bool   // pay everything spendable, the fee deducted
	memo     []byte
	rate     uint64
	source   string // where the fee rate came from
	maxFee   uint64
	yes      bool
	replaces *wire.Hash // bumpfee: the transaction this one replaces
}

func runSend(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	p := cfg.params
	pay := &payment{to: c.String("to"), yes: c.Bool("yes")}
	if pay.to == "" || c.String("amount") == "" {
		return usagef("send needs --to ADDRESS and --amount AMOUNT|max")
	}
	if pay.toPKH, err = wire.DecodeAddress(p.AddressPrefix, pay.to); err != nil {
		return err
	}
	if c.String("amount") == "max" {
		pay.sweep = true
	} else {
		if pay.amount, err = wallet.ParseAmount(c.String("amount")); err != nil {
			return &usageError{err}
		}
		if pay.amount == 0 || pay.amount > p.MaxMoney {
			return usagef("amount must be above 0 and at most %s TALLY", wallet.FormatAmount(p.MaxMoney))
		}
	}
	if pay.maxFee, err = wallet.ParseAmount(c.String("max-fee")); err != nil {
		return usagef("--max-fee: %v", err)
	}
	pay.memo = []byte(c.String("memo"))
	if len(pay.memo) > consensus.MaxMemoBytes {
		return usagef("memo is %d bytes, at most %d", len(pay.memo), consensus.MaxMemoBytes)
	}
	wait := c.Int("wait")
	if wait < 0 {
		return usagef("--wait must be 0 or more")
	}

	ctx := c.Context
	w, n, err := cfg.walletNode(ctx)
	if err != nil {
		return err
	}
	lc, done, coins, err := spendContext(ctx, c, cfg, n, w)
	if err != nil {
		return err
	}
	defer done()
	var spendable []coin
	for _, c := range coins {
		if !c.Immature && !c.Spending {
			spendable = append(spendable, c)
		}
	}
	spendable = n.ownUnconfirmed(ctx, cfg, w, spendable)
	if err := pay.feeRate(c, n); err != nil {
		return err
	}
	res, tx, err := pay.build(ctx, cfg, n, lc, w, spendable)
	if err != nil {
		return err
	}
	return broadcast(c, cfg, n, w, tx, res, wait)
}

// feeRate sets the payment's fee rate from --fee-rate or the node.
func (pay *payment) feeRate(c *cli.Context, n *node) error {
	pay.rate, pay.source = c.Uint64("fee-rate"), "--fee-rate"
	if !c.IsSet("fee-rate") {
		var err error
		if pay.rate, pay.source, err = n.feeRate(c.Context, feeTargetBlocks); err != nil {
			return err
		}
	}
	if pay.rate == 0 {
		return usagef("fee rate 0: it must be at least 1 base unit per byte")
	}
	return nil
}

// spendContext opens the light client that checks coins and lists the
// wallet's confirmed coins at the node's tip: what send and bumpfee both
// start from. done closes the light client's store.
func spendContext(ctx context.Context, c *cli.Context, cfg *config, n *node, w *wallet.Wallet) (*spv.Client, func(), []coin, error) {
	lc, done, err := checkedLightClient(c, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	tip, err := n.blockCount(ctx)
	if err == nil {
		var coins []coin
		if coins, err = n.coins(ctx, cfg, w.Addresses(), tip); err == nil {
			return lc, done, coins, nil
		}
	}
	done()
	return nil, nil, nil, err
}

// checkedLightClient opens the light client beside the wallet and syncs
// it from the node, so that coins can be checked against its headers.
func checkedLightClient(c *cli.Context, cfg *config) (*spv.Client, func(), error) {
	lc, done, err := lightClient(c, cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := lc.Sync(c.Context); err != nil {
		done()
		return nil, nil, fmt.Errorf("syncing the header chain to check the coins against (nothing was sent): %w", err)
	}
	return lc, done, nil
}

// build selects coins from spendable, checks them (checkCoins), and
// signs. The fee is computed from the checked amounts and refused above
// the payment's maximum.
func (pay *payment) build(ctx context.Context, cfg *config, n *node, lc *spv.Client, w *wallet.Wallet, spendable []coin) (*sendResult, *wire.Tx, error) {
	p := cfg.params
	if pay.rate > p.MaxMoney/uint64(p.MaxTxBytes) {
		return nil, nil, usagef("fee rate %d base/byte: it must be at most %d", pay.rate, p.MaxMoney/uint64(p.MaxTxBytes))
	}
	byOutPoint := make(map[wire.OutPoint]coin, len(spendable))
	utxos := make([]wallet.UTXO, len(spendable))
	for i, c := range spendable {
		byOutPoint[c.OutPoint] = c
		utxos[i] = c.UTXO
	}
	var selected []wallet.UTXO
	var change uint64
	if pay.sweep {
		if len(utxos) == 0 {
			return nil, nil, fmt.Errorf("%w: no spendable coins", wallet.ErrInsufficientFunds)
		}
		selected = utxos
	} else {
		// Change worth less than the fee of spending it is not worth an
		// output.
		dust := pay.rate * wire.InputSize
		var err error
		var fee uint64
		selected, change, fee, err = wallet.SelectCoinsFor(utxos, pay.amount, 1, len(pay.memo), pay.rate, dust)
		if err != nil {
			return nil, nil, err
		}
		selected, change, _ = wallet.Consolidate(selected, utxos, pay.amount, 1, len(pay.memo), pay.rate, change, fee)
	}
	sel := make([]coin, len(selected))
	for i, u := range selected {
		sel[i] = byOutPoint[u.OutPoint]
	}
	checked, err := checkCoins(ctx, cfg, n, lc, w, sel)
	if err != nil {
		return nil, nil, err
	}
	var in uint64
	for _, u := range checked {
		in += u.Amount // checkCoins bounded each by a real output; the sum of a chain's outputs fits
	}
	if pay.sweep {
		fee := satMulSize(pay.rate, wallet.TxSize(len(checked), 1, len(pay.memo)))
		if in <= fee {
			return nil, nil, fmt.Errorf("%w: the wallet's %s TALLY does not cover the fee of %s TALLY", wallet.ErrInsufficientFunds, wallet.FormatAmount(in), wallet.FormatAmount(fee))
		}
		pay.amount = in - fee
	}
	if in < pay.amount+change {
		return nil, nil, fmt.Errorf("%w: the checked coins hold %s TALLY, less than the %s TALLY to pay", errUnverified, wallet.FormatAmount(in), wallet.FormatAmount(pay.amount+change))
	}
	// The fee from checked amounts only: what the transaction really pays.
	fee := in - pay.amount - change
	if fee > pay.maxFee {
		return nil, nil, fmt.Errorf("%w: the fee would be %s TALLY, above --max-fee %s TALLY (nothing was sent)", errFeeTooHigh, wallet.FormatAmount(fee), wallet.FormatAmount(pay.maxFee))
	}
	var changeOut wire.TxOut
	changeAddr := ""
	if change > 0 {
		a, err := w.NewChangeAddress()
		if errors.Is(err, wallet.ErrNoSeed) {
			// A wallet of imported keys (such as the dev wallet) sends
			// change back to the address of its first coin.
			a, err = addressOf(w, checked[0].PKH)
		}
		if err != nil {
			return nil, nil, err
		}
		changeOut, changeAddr = wire.TxOut{Amount: change, PKH: a.PKH}, a.Address
	}
	tx, err := wallet.BuildAndSign(checked, []wire.TxOut{{Amount: pay.amount, PKH: pay.toPKH}}, changeOut, w.KeyFor, p.NetworkID, pay.memo)
	if err != nil {
		return nil, nil, err
	}
	res := &sendResult{
		TxID: tx.TxID().String(), To: pay.to, Amount: wallet.FormatAmount(pay.amount), AmountBase: pay.amount,
		Fee: wallet.FormatAmount(fee), FeeBase: fee, FeeRate: pay.rate, FeeRateSource: pay.source,
		ChangeAddress: changeAddr, Inputs: len(checked), Size: tx.SerializeSize(),
	}
	if change > 0 {
		res.Change = wallet.FormatAmount(change)
	}
	if pay.replaces != nil {
		res.Replaces = pay.replaces.String()
	}
	if !cfg.json {
		cfg.note("sending %s TALLY to %s: fee %s TALLY (%d bytes at %d base/byte, from %s), %d checked input(s)",
			res.Amount, pay.to, res.Fee, res.Size, pay.rate, pay.source, res.Inputs)
		if change > 0 {
			cfg.note("change %s TALLY to %s", res.Change, changeAddr)
		}
	}
	if highFee(fee, pay.amount) && !pay.yes {
		q := fmt.Sprintf("The fee is %s TALLY for sending %s TALLY. Send anyway?", res.Fee, res.Amount)
		ok, err := confirm(q)
		if err != nil {
			return nil, nil, fmt.Errorf("the fee of %s TALLY is high for sending %s TALLY; rerun with --yes to pay it, or set a lower --fee-rate", res.Fee, res.Amount)
		}
		if !ok {
			return nil, nil, errors.New("not sent")
		}
	}
	return res, tx, nil
}

// satMulSize returns rate * size, saturating.
func satMulSize(rate uint64, size int) uint64 {
	if size > 0 && rate > ^uint64(0)/uint64(size) {
		return ^uint64(0)
	}
	return rate * uint64(size)
}

// broadcast saves the wallet (the change key must be on disk before the
// transaction exists anywhere else), submits tx, prints its txid and waits
// for confirmations. Once the node has the transaction, every failure is
// a sentError carrying the result, txid included.
func broadcast(c *cli.Context, cfg *config, n *node, w *wallet.Wallet, tx *wire.Tx, res *sendResult, wait int) error {
	ctx := c.Context
	txid := tx.TxID()
	if err := w.Save(); err != nil {
		return fmt.Errorf("saving the wallet before sending (nothing was sent): %w", err)
	}
	got, err := n.sendRaw(ctx, tx)
	if err != nil {
		return fmt.Errorf("the node refused the transaction: %w", err)
	}
	if got != txid {
		return &sentError{res, fmt.Errorf("the node reports txid %s for our transaction %s", got, txid)}
	}
	if !cfg.json {
		fmt.Fprintf(cfg.stdout, "%s\n", txid)
	}
	if wait > 0 {
		st, err := waitConfirmations(ctx, cfg, n, txid, int64(wait), c.Duration("wait-timeout"))
		if err != nil {
			return &sentError{res, fmt.Errorf("transaction %s was broadcast; waiting for %d confirmation(s) failed: %w", txid, wait, err)}
		}
		res.Confirmations = st.Confirmations
		if st.Height != nil {
			res.Height = *st.Height
		}
		if !cfg.json {
			cfg.note("confirmed: %d confirmation(s), block height %d", res.Confirmations, res.Height)
		}
	}
	if cfg.json {
		return cfg.print(res, nil)
	}
	return nil
}

// addressOf returns the wallet's address with key hash pkh.
func addressOf(w *wallet.Wallet, pkh [20]byte) (wallet.Address, error) {
	for _, a := range w.Addresses() {
		if a.PKH == pkh {
			return a, nil
		}
	}
	return wallet.Address{}, wallet.ErrUnknownAddress
}

// waitConfirmations polls gettxstatus until txid has want confirmations.
// A transaction the node reports refused, evicted, replaced or conflicted
// is an error.
func waitConfirmations(ctx context.Context, cfg *config, n *node, txid wire.Hash, want int64, timeout time.Duration) (*rpcjson.TxStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := int64(-1)
	for {
		st, err := n.txStatus(ctx, txid)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if err == nil {
			switch st.Status {
			case rpcjson.StatusRefused, rpcjson.StatusEvicted, rpcjson.StatusReplaced, rpcjson.StatusConflicted:
				return nil, fmt.Errorf("transaction %s %s: %s", txid, st.Status, st.Reason)
			}
			if st.Confirmations >= want {
				return st, nil
			}
			if st.Confirmations != last && !cfg.json {
				cfg.note("%d of %d confirmations", st.Confirmations, want)
				last = st.Confirmations
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("transaction %s was sent but has fewer than %d confirmations after %s", txid, want, timeout)
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
