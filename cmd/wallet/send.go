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
	"tally/wire"
)

// Fee guard: send asks before paying a fee above feeWarnFraction of the
// amount or above feeWarnAbsolute base units, unless --yes.
const (
	feeWarnPercent  = 1
	feeWarnAbsolute = wallet.BaseUnitsPerTally / 100 // 0.01 TALLY
	feeTargetBlocks = 6
)

// highFee reports whether fee deserves a confirmation for amount.
func highFee(fee, amount uint64) bool {
	return fee > feeWarnAbsolute || fee*100 > amount*feeWarnPercent
}

func sendCommand() *cli.Command {
	return &cli.Command{
		Name:      "send",
		Usage:     "pay an address: select coins, sign, submit, print the txid",
		UsageText: "wallet [global flags] send --to ADDR --amount AMOUNT [--fee-rate R] [--memo TEXT] [--wait N] [--yes]",
		Flags: withJSON(
			&cli.StringFlag{Name: "to", Usage: "recipient `ADDRESS` (required)"},
			&cli.StringFlag{Name: "amount", Usage: "`AMOUNT` in TALLY (1.5) or base units with the suffix base (150000000base) (required)"},
			&cli.Uint64Flag{Name: "fee-rate", Usage: "fee rate in base units per byte (default: the node's estimate, else its minimum relay fee)"},
			&cli.StringFlag{Name: "memo", Usage: fmt.Sprintf("a memo of at most %d bytes, stored in the transaction", consensus.MaxMemoBytes)},
			&cli.IntFlag{Name: "wait", Usage: "wait until the transaction has `N` confirmations"},
			&cli.DurationFlag{Name: "wait-timeout", Value: time.Hour, Usage: "give up waiting after this long"},
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
}

func runSend(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	p := cfg.params
	to := c.String("to")
	if to == "" || c.String("amount") == "" {
		return errors.New("send needs --to ADDRESS and --amount AMOUNT")
	}
	toPKH, err := wire.DecodeAddress(p.AddressPrefix, to)
	if err != nil {
		return err
	}
	amount, err := wallet.ParseAmount(c.String("amount"))
	if err != nil {
		return err
	}
	if amount == 0 || amount > p.MaxMoney {
		return fmt.Errorf("amount must be above 0 and at most %s TALLY", wallet.FormatAmount(p.MaxMoney))
	}
	memo := []byte(c.String("memo"))
	if len(memo) > consensus.MaxMemoBytes {
		return fmt.Errorf("memo is %d bytes, at most %d", len(memo), consensus.MaxMemoBytes)
	}
	wait := c.Int("wait")
	if wait < 0 {
		return errors.New("--wait must be 0 or more")
	}

	ctx := c.Context
	w, n, err := cfg.walletNode(ctx)
	if err != nil {
		return err
	}
	tip, err := n.blockCount(ctx)
	if err != nil {
		return err
	}
	coins, _, err := n.coins(ctx, cfg, w.Addresses(), tip)
	if err != nil {
		return err
	}
	var spendable []wallet.UTXO
	for _, c := range coins {
		if !c.Immature && !c.Spending {
			spendable = append(spendable, c.UTXO)
		}
	}
	rate, rateSource := c.Uint64("fee-rate"), "--fee-rate"
	if !c.IsSet("fee-rate") {
		if rate, rateSource, err = n.feeRate(ctx, feeTargetBlocks); err != nil {
			return err
		}
	}
	if rate == 0 || rate > p.MaxMoney/uint64(p.MaxTxBytes) {
		return fmt.Errorf("fee rate %d base/byte: it must be between 1 and %d", rate, p.MaxMoney/uint64(p.MaxTxBytes))
	}
	// Change worth less than the fee of spending it is not worth an
	// output.
	dust := rate * wire.InputSize
	selected, change, fee, err := wallet.SelectCoinsFor(spendable, amount, 1, len(memo), rate, dust)
	if err != nil {
		return err
	}
	var changeOut wire.TxOut
	changeAddr := ""
	if change > 0 {
		a, err := w.NewAddress()
		if errors.Is(err, wallet.ErrNoSeed) {
			// A wallet of imported keys (such as the dev wallet) sends
			// change back to the address of its first coin.
			a, err = addressOf(w, selected[0].PKH)
		}
		if err != nil {
			return err
		}
		changeOut, changeAddr = wire.TxOut{Amount: change, PKH: a.PKH}, a.Address
	}
	tx, err := wallet.BuildAndSign(selected, []wire.TxOut{{Amount: amount, PKH: toPKH}}, changeOut, w.KeyFor, p.NetworkID, memo)
	if err != nil {
		return err
	}
	txid := tx.TxID()
	res := sendResult{
		TxID: txid.String(), To: to, Amount: wallet.FormatAmount(amount), AmountBase: amount,
		Fee: wallet.FormatAmount(fee), FeeBase: fee, FeeRate: rate, FeeRateSource: rateSource,
		ChangeAddress: changeAddr, Inputs: len(selected), Size: tx.SerializeSize(),
	}
	if change > 0 {
		res.Change = wallet.FormatAmount(change)
	}
	if !cfg.json {
		cfg.note("sending %s TALLY to %s: fee %s TALLY (%d bytes at %d base/byte, from %s), %d input(s)",
			res.Amount, to, res.Fee, res.Size, rate, rateSource, res.Inputs)
		if change > 0 {
			cfg.note("change %s TALLY to %s", res.Change, changeAddr)
		}
	}
	if highFee(fee, amount) && !c.Bool("yes") {
		q := fmt.Sprintf("The fee is %s TALLY for sending %s TALLY. Send anyway?", res.Fee, res.Amount)
		ok, err := confirm(q)
		if err != nil {
			return fmt.Errorf("the fee of %s TALLY is high for sending %s TALLY; rerun with --yes to pay it, or set a lower --fee-rate", res.Fee, res.Amount)
		}
		if !ok {
			return errors.New("not sent")
		}
	}
	// The change key must be on disk before the transaction can exist
	// anywhere else.
	if err := w.Save(); err != nil {
		return fmt.Errorf("saving the wallet before sending (nothing was sent): %w", err)
	}
	got, err := n.sendRaw(ctx, tx)
	if err != nil {
		return fmt.Errorf("the node refused the transaction: %w", err)
	}
	if got != txid {
		return fmt.Errorf("the node reports txid %s for our transaction %s", got, txid)
	}
	if !cfg.json {
		fmt.Fprintf(cfg.stdout, "%s\n", txid)
	}
	if wait > 0 {
		st, err := waitConfirmations(ctx, cfg, n, txid, int64(wait), c.Duration("wait-timeout"))
		if err != nil {
			return err
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
