package spv

import (
	"context"
	"encoding/hex"
	"fmt"

	"tally/wire"
)

// ErrBadCoin: a coin a node reported does not match the transaction that
// the node's own proof places in our chain (another amount or owner, an
// output that does not exist, a transaction that does not hash to its
// txid).
const ErrBadCoin = ErrorKind("coin does not match its transaction")

// CoinSource serves what checking a confirmed coin needs: the raw
// transaction and its Merkle proof, both in a block the caller names (so
// the node needs no transaction index). Nothing it returns is trusted.
type CoinSource interface {
	// GetMerkleProofIn returns the proof that txid is in block blockID.
	GetMerkleProofIn(ctx context.Context, txid, blockID wire.Hash) (*Proof, error)
	// GetRawTxIn returns transaction txid of block blockID, decoded.
	GetRawTxIn(ctx context.Context, txid, blockID wire.Hash) (*wire.Tx, error)
}

// VerifiedCoin is an output whose amount and owner come from a
// transaction proven to be in our most-work header chain.
type VerifiedCoin struct {
	OutPoint wire.OutPoint
	Out      wire.TxOut
	Coinbase bool
	Conf     Confirmation
}

// VerifyCoin checks a confirmed coin that a node reports at height: our
// header at that height names the block; the source's Merkle proof must
// place op.TxID in it and its raw transaction must hash to op.TxID. The
// output is then read from that transaction, never from the node's
// report. A genesis allocation (height 0) is read from our own genesis
// block. Errors: ErrNotOnBestChain (no header of ours at height: sync
// first, or the node lied about the height), ErrBadProof, ErrBadCoin, or
// the source's error.
func (c *Client) VerifyCoin(ctx context.Context, src CoinSource, op wire.OutPoint, height uint64) (VerifiedCoin, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	header, ok := c.store.Header(height)
	if !ok {
		return VerifiedCoin{}, heightErr(ErrNotOnBestChain, height, nil,
			"coin %s:%d is reported in a block above our header chain's tip %d; sync headers and try again",
			op.TxID, op.Index, c.store.Height())
	}
	blockID := header.BlockID()
	var tx *wire.Tx
	var conf Confirmation
	if height == 0 {
		for _, t := range c.params.Genesis.Txs {
			if t.TxID() == op.TxID {
				tx = t
			}
		}
		if tx == nil {
			return VerifiedCoin{}, heightErr(ErrBadCoin, 0, nil, "coin %s:%d: the genesis block has no such transaction", op.TxID, op.Index)
		}
		tip := c.store.Tip()
		conf = Confirmation{TxID: op.TxID, BlockID: blockID, Confirmations: tip.Height + 1, TipHeight: tip.Height}
	} else {
		p, err := src.GetMerkleProofIn(ctx, op.TxID, blockID)
		if err != nil {
			return VerifiedCoin{}, fmt.Errorf("proof of coin %s:%d in block %s: %w", op.TxID, op.Index, blockID, err)
		}
		if p.Height != height {
			return VerifiedCoin{}, heightErr(ErrBadProof, height, nil, "the proof of coin %s:%d is for height %d, not %d", op.TxID, op.Index, p.Height, height)
		}
		if conf, err = c.checkProof(op.TxID, p); err != nil {
			return VerifiedCoin{}, err
		}
		if tx, err = src.GetRawTxIn(ctx, op.TxID, blockID); err != nil {
			return VerifiedCoin{}, fmt.Errorf("transaction of coin %s:%d: %w", op.TxID, op.Index, err)
		}
		if id := tx.TxID(); id != op.TxID {
			return VerifiedCoin{}, heightErr(ErrBadCoin, height, nil, "asked for transaction %s, the node sent %s", op.TxID, id)
		}
	}
	if int(op.Index) >= len(tx.Outputs) {
		return VerifiedCoin{}, heightErr(ErrBadCoin, height, nil, "coin %s:%d: the transaction has %d outputs", op.TxID, op.Index, len(tx.Outputs))
	}
	return VerifiedCoin{OutPoint: op, Out: tx.Outputs[op.Index], Coinbase: tx.IsCoinbase(), Conf: conf}, nil
}

// GetMerkleProofIn calls getmerkleproof txid blockID.
func (s *RPCSource) GetMerkleProofIn(ctx context.Context, txid, blockID wire.Hash) (*Proof, error) {
	var pj proofJSON
	if err := s.Client.Call(ctx, "getmerkleproof", []any{txid.String(), blockID.String()}, &pj); err != nil {
		return nil, err
	}
	return pj.decode()
}

// GetRawTxIn calls getrawtransaction txid false blockID and decodes the
// hex; the caller checks that it hashes to txid.
func (s *RPCSource) GetRawTxIn(ctx context.Context, txid, blockID wire.Hash) (*wire.Tx, error) {
	var x string
	if err := s.Client.Call(ctx, "getrawtransaction", []any{txid.String(), false, blockID.String()}, &x); err != nil {
		return nil, err
	}
	// The client bounds the response's size.
	b, err := hex.DecodeString(x)
	if err != nil {
		return nil, newErr(ErrBadResponse, "getrawtransaction: %v", err)
	}
	tx, err := wire.DecodeTx(b)
	if err != nil {
		return nil, newErr(ErrBadResponse, "getrawtransaction: %v", err)
	}
	return tx, nil
}
