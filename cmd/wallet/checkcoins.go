package main

import (
	"context"
	"errors"
	"fmt"

	"tally/wallet"
	"tally/wallet/spv"
	"tally/wire"
)

// errUnverified marks a coin the wallet could not check, or found the node
// lying about; send refuses to sign with it.
var errUnverified = errors.New("coin not verified")

// checkCoins checks every coin about to be spent without trusting the
// node (SPEC section 8) and returns them with the amount and owner read
// from their transactions. A confirmed coin must be in a transaction that
// hashes to its txid and that a Merkle proof places in the block of our
// own most-work header chain at the coin's height (lc must be synced). An
// unconfirmed coin must be an output of a transaction this wallet signed.
// A coin whose checked amount or owner differs from what the node
// reported, or whose coinbase is not mature on our header chain, is
// refused: a node that lies about one coin is not asked about the rest.
func checkCoins(ctx context.Context, cfg *config, n *node, lc *spv.Client, w *wallet.Wallet, sel []coin) ([]wallet.UTXO, error) {
	isMine := func(pkh [20]byte) bool { _, ok := w.KeyFor(pkh); return ok }
	src := n.source()
	tip := lc.Store().Height()
	out := make([]wallet.UTXO, len(sel))
	for i, c := range sel {
		op := c.OutPoint
		var got wire.TxOut
		var conf int64
		if c.Confirmations > 0 {
			vc, err := lc.VerifyCoin(ctx, src, op, c.Height)
			if err != nil {
				return nil, fmt.Errorf("%w: %s:%d (reported at height %d): %w", errUnverified, op.TxID, op.Index, c.Height, err)
			}
			if vc.Coinbase && c.Height > 0 && tip+1 < c.Height+cfg.params.CoinbaseMaturity {
				return nil, fmt.Errorf("%w: %s:%d is a coinbase output of height %d, not spendable before height %d",
					errUnverified, op.TxID, op.Index, c.Height, c.Height+cfg.params.CoinbaseMaturity)
			}
			got, conf = vc.Out, int64(vc.Conf.Confirmations)
		} else {
			if c.Parent == nil || c.Parent.TxID() != op.TxID || int(op.Index) >= len(c.Parent.Outputs) {
				return nil, fmt.Errorf("%w: unconfirmed coin %s:%d has no transaction of its own to check", errUnverified, op.TxID, op.Index)
			}
			if !wallet.SignedByUs(c.Parent, cfg.params.NetworkID, isMine) {
				return nil, fmt.Errorf("%w: unconfirmed coin %s:%d is not the output of a transaction this wallet signed", errUnverified, op.TxID, op.Index)
			}
			got = c.Parent.Outputs[op.Index]
		}
		if got.Amount != c.Amount || got.PKH != c.PKH {
			return nil, fmt.Errorf("%w: the node reported %s:%d as %s TALLY to %x, its transaction says %s TALLY to %x: refusing to sign (the node at %s is lying or broken)",
				errUnverified, op.TxID, op.Index, wallet.FormatAmount(c.Amount), c.PKH, wallet.FormatAmount(got.Amount), got.PKH, n.url)
		}
		if !isMine(got.PKH) {
			return nil, fmt.Errorf("%w: coin %s:%d pays %x, a key this wallet does not hold", errUnverified, op.TxID, op.Index, got.PKH)
		}
		out[i] = wallet.UTXO{OutPoint: op, Amount: got.Amount, PKH: got.PKH, Confirmations: conf}
	}
	return out, nil
}
