package explorer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"tally/rpc/rpcjson"
	"tally/wire"
)

// Backend is what the explorer needs from the node: calls of the public
// JSON-RPC interface, run in process. *rpc.Server satisfies it.
type Backend interface {
	CallPublic(ctx context.Context, method string, params ...any) (json.RawMessage, error)
}

// EventStream is the node's event stream (GET /events, SPEC section 7),
// served in process as the public RPC listener serves it. A backend that
// also implements it gets its stream proxied at the explorer's /events,
// which the home page follows instead of polling.
type EventStream interface {
	ServeEvents(w http.ResponseWriter, r *http.Request)
}

// data makes the RPC calls the pages need, one method per need.
type data struct{ b Backend }

// call runs method and decodes its result into out.
func (d data) call(ctx context.Context, out any, method string, params ...any) error {
	raw, err := d.b.CallPublic(ctx, method, params...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding %s: %w", method, err)
	}
	return nil
}

// rpcCode returns the JSON-RPC code of err, or 0.
func rpcCode(err error) int {
	var re *rpcjson.RPCError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// notFound reports whether err says the thing asked for does not exist.
func notFound(err error) bool {
	c := rpcCode(err)
	return c == rpcjson.CodeNotFound || c == rpcjson.CodeInvalidParameter
}

// unsupported reports whether err says the backend lacks a method or a
// form of its parameters (an older node): the caller falls back.
func unsupported(err error) bool {
	c := rpcCode(err)
	return c == rpcjson.CodeMethodNotFound || c == rpcjson.CodeInvalidParams
}

func (d data) chainInfo(ctx context.Context) (ci rpcjson.BlockchainInfo, err error) {
	return ci, d.call(ctx, &ci, "getblockchaininfo")
}

func (d data) blockHash(ctx context.Context, height uint64) (id wire.Hash, err error) {
	return id, d.call(ctx, &id, "getblockhash", height)
}

func (d data) header(ctx context.Context, id wire.Hash) (h rpcjson.BlockHeaderResult, err error) {
	return h, d.call(ctx, &h, "getblockheader", id, true)
}

// block is getblock at verbosity 1: the header fields and the txids.
type block struct {
	rpcjson.BlockResult
	Tx []wire.Hash `json:"tx"`
}

func (d data) block(ctx context.Context, id wire.Hash) (b block, err error) {
	return b, d.call(ctx, &b, "getblock", id, 1)
}

// blockStats is the part of getblockstats the block page shows.
type blockStats struct {
	AvgFee      uint64    `json:"avgfee"`
	AvgFeeRate  uint64    `json:"avgfeerate"`
	Percentiles []float64 `json:"feerate_percentiles"`
	Ins         int       `json:"ins"`
	Outs        int       `json:"outs"`
	TotalSize   int       `json:"total_size"`
	TotalFee    uint64    `json:"totalfee"`
	Subsidy     uint64    `json:"subsidy"`
	UTXOIncr    int64     `json:"utxo_increase"`
	Txs         int       `json:"txs"`
	Height      uint64    `json:"height"`
}

// blockStats returns getblockstats for a block, or ok false from a
// backend without the method.
func (d data) blockStats(ctx context.Context, id wire.Hash) (st blockStats, ok bool, err error) {
	err = d.call(ctx, &st, "getblockstats", id)
	if err != nil && rpcCode(err) == rpcjson.CodeMethodNotFound {
		return st, false, nil
	}
	return st, err == nil, err
}

// prevout is what an input spends, as getrawtransaction verbosity 2
// reports it.
type prevout struct {
	Value   uint64 `json:"value"`
	Address string `json:"address"`
	Height  uint64 `json:"height"`
}

// txIn is a decoded input with its prevout when the backend knows it.
type txIn struct {
	TxID    wire.Hash `json:"txid"`
	Vout    uint32    `json:"vout"`
	Address string    `json:"address"` // the spender's address (from its public key)
	Prevout *prevout  `json:"prevout,omitempty"`
}

// tx is getrawtransaction at verbosity 2 (prevouts and fee) or, from a
// backend that ignores 2, at verbosity 1. It leaves out the hex and the
// signatures, which no page shows, so they are not copied.
type tx struct {
	TxID          wire.Hash            `json:"txid"`
	Size          int                  `json:"size"`
	Coinbase      bool                 `json:"coinbase"`
	Vin           []txIn               `json:"vin"`
	Vout          []rpcjson.TxOutEntry `json:"vout"`
	BlockHash     *wire.Hash           `json:"blockhash"`
	Confirmations *int64               `json:"confirmations"`
	BlockTime     uint64               `json:"blocktime"`
	Fee           *uint64              `json:"fee"`
}

// tx returns a transaction from the pool or the chain; block, if not
// nil, names the block to look in.
func (d data) tx(ctx context.Context, txid wire.Hash, blockID *wire.Hash) (t tx, err error) {
	if blockID != nil {
		return t, d.call(ctx, &t, "getrawtransaction", txid, 2, *blockID)
	}
	return t, d.call(ctx, &t, "getrawtransaction", txid, 2)
}

// prevouts fills the missing prevouts of t's first limit inputs by
// looking up the spent transactions (for a backend whose
// getrawtransaction lacks verbosity 2), and sets the fee when every
// input is known. It makes at most limit calls.
func (d data) prevouts(ctx context.Context, t *tx, limit int) error {
	if t.Coinbase {
		return nil
	}
	for i := range t.Vin {
		in := &t.Vin[i]
		if in.Prevout != nil || i >= limit {
			continue
		}
		prev, err := d.tx(ctx, in.TxID, nil)
		if err != nil {
			if notFound(err) {
				continue
			}
			return err
		}
		if int(in.Vout) < len(prev.Vout) {
			o := prev.Vout[in.Vout]
			in.Prevout = &prevout{Value: o.Value, Address: o.Address}
		}
	}
	if t.Fee == nil {
		var in, out uint64
		for _, v := range t.Vin {
			if v.Prevout == nil {
				return nil
			}
			in += v.Prevout.Value
		}
		for _, o := range t.Vout {
			out += o.Value
		}
		if in >= out {
			fee := in - out
			t.Fee = &fee
		}
	}
	return nil
}

func (d data) txStatus(ctx context.Context, txid wire.Hash) (st rpcjson.TxStatus, err error) {
	return st, d.call(ctx, &st, "gettxstatus", txid)
}

func (d data) merkleProof(ctx context.Context, txid wire.Hash) (p rpcjson.MerkleProofResult, err error) {
	return p, d.call(ctx, &p, "getmerkleproof", txid)
}

func (d data) mempoolInfo(ctx context.Context) (mi rpcjson.MempoolInfo, err error) {
	return mi, d.call(ctx, &mi, "getmempoolinfo")
}

// mempoolEntries returns the pool's entries keyed by txid.
func (d data) mempoolEntries(ctx context.Context) (m map[wire.Hash]rpcjson.MempoolEntry, err error) {
	return m, d.call(ctx, &m, "getrawmempool", true)
}

// addressCheck is validateaddress's answer.
type addressCheck struct {
	IsValid bool   `json:"isvalid"`
	Address string `json:"address"`
	Error   string `json:"error"`
}

func (d data) validateAddress(ctx context.Context, s string) (a addressCheck, err error) {
	return a, d.call(ctx, &a, "validateaddress", s)
}

func (d data) addressBalance(ctx context.Context, addr string) (b rpcjson.AddressBalance, err error) {
	return b, d.call(ctx, &b, "getaddressbalance", addr)
}

// addressHistory returns a page of at most limit entries of an
// address's history, oldest first, after the cursor (empty for the
// first page); the last page ends with the pool's entries (height null).
// next is the cursor of the following page, empty on the last.
func (d data) addressHistory(ctx context.Context, addr, after string, limit int) (page rpcjson.AddressHistoryPage, next string, err error) {
	opts := map[string]any{"limit": limit}
	if after != "" {
		opts["after"] = after
	}
	if err := d.call(ctx, &page, "getaddresshistory", addr, opts); err != nil {
		return page, "", err
	}
	if page.Next != nil {
		next = *page.Next
	}
	return page, next, nil
}
