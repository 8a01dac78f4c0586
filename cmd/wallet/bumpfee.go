package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"tally/rpc/rpcjson"
	"tally/wallet"
	"tally/wire"
)

func bumpfeeCommand() *cli.Command {
	return &cli.Command{
		Name:      "bumpfee",
		Usage:     "replace an unconfirmed payment of this wallet with one paying a higher fee (replace-by-fee)",
		UsageText: "wallet [global flags] bumpfee TXID [--fee-rate R] [--max-fee F] [--wait N]",
		Description: "The replacement spends the same coins (checked again against the header chain) and pays the same " +
			"recipients; the higher fee comes out of the change. By default its fee rate is the node's estimate, at least " +
			"enough to replace the original (its fee plus the minimum relay fee for the replacement's size).",
		Flags: withJSON(
			&cli.Uint64Flag{Name: "fee-rate", Usage: "fee rate of the replacement in base units per byte"},
			&cli.StringFlag{Name: "max-fee", Value: "0.1", Usage: "refuse to pay a fee above `AMOUNT` TALLY"},
			&cli.IntFlag{Name: "wait", Usage: "wait until the replacement has `N` confirmations"},
			&cli.DurationFlag{Name: "wait-timeout", Value: defaultWaitTimeout, Usage: "give up waiting after this long"},
		),
		Action: runBumpfee,
	}
}

func runBumpfee(c *cli.Context) error {
	args, err := positionalArgs(c)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("bumpfee takes one TXID (64 hex digits)")
	}
	txid, err := wire.ParseHash(args[0])
	if err != nil {
		return usagef("TXID %q: %v", args[0], err)
	}
	maxFee, err := wallet.ParseAmount(c.String("max-fee"))
	if err != nil {
		return usagef("--max-fee: %v", err)
	}
	ctx := c.Context
	w, n, err := cfg.walletNode(ctx)
	if err != nil {
		return err
	}
	st, err := n.txStatus(ctx, txid)
	if err != nil {
		return err
	}
	if st.Status != rpcjson.StatusMempool {
		return fmt.Errorf("transaction %s is %s, not waiting in the pool: only an unconfirmed transaction can be replaced", txid, st.Status)
	}
	orig, err := n.rawTransaction(ctx, txid, 0)
	if err != nil {
		return err
	}
	isMine := func(pkh [20]byte) bool { _, ok := w.KeyFor(pkh); return ok }
	if !wallet.SignedByUs(orig.Tx, cfg.params.NetworkID, isMine) {
		return fmt.Errorf("transaction %s was not signed by this wallet", txid)
	}
	lc, done, coins, err := spendContext(ctx, c, cfg, n, w)
	if err != nil {
		return err
	}
	defer done()
	coins = n.ownUnconfirmed(ctx, cfg, w, coins)
	byOutPoint := make(map[wire.OutPoint]coin)
	for _, c := range coins {
		if c.Spending && c.SpentBy == txid {
			byOutPoint[c.OutPoint] = c
		}
	}
	sel := make([]coin, len(orig.Tx.Inputs))
	for i, in := range orig.Tx.Inputs {
		c, ok := byOutPoint[in.Prev]
		if !ok {
			return fmt.Errorf("input %d of %s (%s:%d) is not a coin of this wallet that the node reports spent by it", i, txid, in.Prev.TxID, in.Prev.Index)
		}
		sel[i] = c
	}
	checked, err := checkCoins(ctx, cfg, n, lc, w, sel)
	if err != nil {
		return err
	}
	var in, out uint64
	for _, u := range checked {
		in += u.Amount
	}
	// The payees keep their outputs; the last output of ours is the change
	// that pays the difference.
	outs := append([]wire.TxOut(nil), orig.Tx.Outputs...)
	changeAt := -1
	for i, o := range outs {
		out += o.Amount
		if isMine(o.PKH) {
			changeAt = i
		}
	}
	if in < out {
		return fmt.Errorf("%w: the checked coins hold %s TALLY, less than the %s TALLY the transaction pays", errUnverified, wallet.FormatAmount(in), wallet.FormatAmount(out))
	}
	oldFee := in - out
	size := uint64(orig.Tx.SerializeSize())
	minRelay := uint64(1)
	if info, err := n.c.GetMempoolInfo(ctx); err == nil && info.MinRelayTxFee > 0 {
		minRelay = info.MinRelayTxFee
	}
	rate, source := c.Uint64("fee-rate"), "--fee-rate"
	if !c.IsSet("fee-rate") {
		if rate, source, err = n.feeRate(ctx, feeTargetBlocks); err != nil {
			return err
		}
		// Enough to replace: the old fee plus the relay fee of the new
		// size (the same size: same inputs and outputs), rounded up.
		if need := (oldFee + minRelay*size + size - 1) / size; rate < need {
			rate, source = need, "the minimum to replace "+txid.String()
		}
	}
	newFee := satMulSize(rate, int(size))
	if changeAt < 0 {
		return errors.New("the transaction has no change output to take a higher fee from")
	}
	if extra := newFee - min(newFee, oldFee); outs[changeAt].Amount <= extra {
		return fmt.Errorf("%w: the change of %s TALLY cannot pay the %s TALLY more that a fee rate of %d needs",
			wallet.ErrInsufficientFunds, wallet.FormatAmount(outs[changeAt].Amount), wallet.FormatAmount(extra), rate)
	}
	outs[changeAt].Amount = outs[changeAt].Amount + oldFee - newFee
	if newFee > maxFee {
		return fmt.Errorf("%w: the fee would be %s TALLY, above --max-fee %s TALLY (nothing was sent)", errFeeTooHigh, wallet.FormatAmount(newFee), wallet.FormatAmount(maxFee))
	}
	change := outs[changeAt]
	payees := append(append([]wire.TxOut(nil), outs[:changeAt]...), outs[changeAt+1:]...)
	if len(payees) == 0 {
		payees, change = []wire.TxOut{change}, wire.TxOut{}
	}
	tx, err := wallet.BuildAndSign(checked, payees, change, w.KeyFor, cfg.params.NetworkID, orig.Tx.Extra)
	if err != nil {
		return err
	}
	res := &sendResult{
		TxID: tx.TxID().String(), Fee: wallet.FormatAmount(newFee), FeeBase: newFee, FeeRate: rate, FeeRateSource: source,
		Inputs: len(checked), Size: tx.SerializeSize(), Replaces: txid.String(),
	}
	if len(payees) > 0 && change.Amount > 0 {
		res.Change = wallet.FormatAmount(change.Amount)
	}
	if !cfg.json {
		cfg.note("replacing %s (fee %s TALLY) with a fee of %s TALLY (%d base/byte, from %s)", txid, wallet.FormatAmount(oldFee), res.Fee, rate, source)
	}
	return broadcast(c, cfg, n, w, tx, res, c.Int("wait"))
}
