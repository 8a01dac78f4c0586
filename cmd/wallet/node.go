package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"tally/rpc/client"
	"tally/rpc/rpcjson"
	"time"

	"tally/wallet"
	"tally/wallet/spv"
	"tally/wire"
)

// rpcTimeout bounds one call to the node.
const rpcTimeout = 2 * time.Minute

// node is the node the wallet talks to. Nothing it says about the chain
// is trusted by the light client; the wallet trusts it for balances and
// history (what its address index reports), as the wallet of a full
// node's user does.
type node struct {
	url string
	c   *client.Client
}

// connect returns the configured node (no request is made yet).
func (cfg *config) connect() (*node, error) {
	return cfg.connectURL(cfg.rpcURL)
}

// connectURL returns a node at url with the configured credentials:
// user:password in the URL, else --rpc-user/--rpc-password, else the
// cookie file, else none.
func (cfg *config) connectURL(url string) (*node, error) {
	url = normalizeURL(url)
	n := &node{url: url}
	u, err := neturl.Parse(url)
	switch {
	case err != nil:
		return nil, fmt.Errorf("bad node URL %q: %w", url, err)
	case u.User != nil:
		// net/http sends the URL's credentials.
		n.url, n.c = u.Redacted(), client.New(url, "", "")
	case cfg.rpcUser != "":
		n.c = client.New(url, cfg.rpcUser, cfg.rpcPassword)
	case cfg.cookiePath() != "":
		if n.c, err = client.FromCookie(url, cfg.cookiePath()); err != nil {
			return nil, err
		}
	default:
		n.c = client.New(url, "", "")
	}
	n.c.SetHTTPClient(&http.Client{Timeout: rpcTimeout})
	return n, nil
}

// hint adds what to do to an error reaching the node.
func (n *node) hint(err error) error {
	var re *rpcjson.RPCError
	if err == nil || errors.As(err, &re) || errors.Is(err, client.ErrUnauthorized) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w (is noded running at %s? give --rpc URL)", err, n.url)
}

func (n *node) call(ctx context.Context, method string, result any, params ...any) error {
	return n.hint(n.c.Call(ctx, method, params, result))
}

// source returns the node as a light-client header source.
func (n *node) source() *spv.RPCSource { return &spv.RPCSource{Name: n.url, Client: n.c} }

func (n *node) blockCount(ctx context.Context) (uint64, error) {
	h, err := n.c.GetBlockCount(ctx)
	return h, n.hint(err)
}

// checkNetwork makes sure the node runs the network of params: its block
// at height 0 is our genesis block.
func (n *node) checkNetwork(ctx context.Context, cfg *config) error {
	id, err := n.c.GetBlockHash(ctx, 0)
	if err != nil {
		return n.hint(err)
	}
	if id != cfg.params.GenesisID {
		return fmt.Errorf("the node at %s runs another network (genesis %s, %s's is %s): use --dev, --genesis or --rpc",
			n.url, id, cfg.params.Network, cfg.params.GenesisID)
	}
	return nil
}

// coin is a wallet coin with what balance and send need to know.
type coin struct {
	wallet.UTXO
	Address  string
	Height   uint64 // meaningless if unconfirmed (Confirmations 0)
	Coinbase bool
	Immature bool // a coinbase output not yet spendable in the next block
	// Spending: a mempool transaction spends it already (SpentBy).
	Spending bool
	SpentBy  wire.Hash
	// Parent is the transaction of an unconfirmed coin, once fetched
	// (hashed to its txid; checkCoins checks that we signed it).
	Parent *wire.Tx
}

// coins returns the unspent outputs of the wallet's addresses, confirmed
// ones and those of pool transactions (Confirmations 0), as the node's
// address index reports them, page after page (the node needs
// --addrindex). tip is the node's best height, for maturity. Nothing
// here is trusted for spending: send checks the coins it picks.
func (n *node) coins(ctx context.Context, cfg *config, addrs []wallet.Address, tip uint64) ([]coin, error) {
	var out []coin
	for _, a := range addrs {
		us, err := n.c.GetAddressUTXOs(ctx, a.Address)
		if err != nil {
			return nil, addrIndexHint(n.hint(err))
		}
		for _, u := range us {
			c := coin{
				UTXO:     wallet.UTXO{OutPoint: wire.OutPoint{TxID: u.TxID, Index: u.Vout}, Amount: u.Value, PKH: a.PKH},
				Address:  a.Address,
				Coinbase: u.Coinbase,
				Spending: u.SpentBy != nil,
			}
			if u.SpentBy != nil {
				c.SpentBy = *u.SpentBy
			}
			if u.Height != nil {
				c.Height = *u.Height
				c.Confirmations = int64(min(u.Confirmations, 1<<62))
				if c.Confirmations == 0 {
					c.Confirmations = 1 // confirmed, whatever the node says
				}
				// A coinbase output of height h is spendable in a block at
				// height >= h + maturity; the next block is tip + 1. The
				// genesis allocations are spendable at once.
				c.Immature = u.Coinbase && c.Height > 0 && tip+1 < c.Height+cfg.params.CoinbaseMaturity
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// ownUnconfirmed fetches the transaction of every unconfirmed coin and
// keeps the coins of transactions this wallet signed (its change): the
// only unconfirmed coins it spends.
func (n *node) ownUnconfirmed(ctx context.Context, cfg *config, w *wallet.Wallet, coins []coin) []coin {
	isMine := func(pkh [20]byte) bool { _, ok := w.KeyFor(pkh); return ok }
	var out []coin
	parents := make(map[wire.Hash]*wire.Tx)
	for _, c := range coins {
		if c.Confirmations > 0 {
			out = append(out, c)
			continue
		}
		tx, ok := parents[c.OutPoint.TxID]
		if !ok {
			if t, err := n.rawTransaction(ctx, c.OutPoint.TxID, 0); err == nil && wallet.SignedByUs(t.Tx, cfg.params.NetworkID, isMine) {
				tx = t.Tx
			}
			parents[c.OutPoint.TxID] = tx
		}
		if tx != nil {
			c.Parent = tx
			out = append(out, c)
		}
	}
	return out
}

// addrIndexHint adds what to do when the node has no address index.
func addrIndexHint(err error) error {
	var re *rpcjson.RPCError
	if errors.As(err, &re) && re.Code == rpcjson.CodeInvalidParameter {
		return fmt.Errorf("%w (the wallet needs a node run with --addrindex)", err)
	}
	return err
}

// addressTxIDs returns the txids that paid or spent addr: confirmed ones
// by height, then the pool's.
func (n *node) addressTxIDs(ctx context.Context, addr string) ([]rpcjson.AddressTxID, error) {
	ids, err := n.c.GetAddressTxIDs(ctx, addr)
	return ids, addrIndexHint(n.hint(err))
}

// rawTx is a transaction (decoded from its hex by us) and where the node
// says it is.
type rawTx struct {
	Tx            *wire.Tx
	Height        int64 // -1 if unconfirmed
	Confirmations int64
	Time          int64
}

// rawTransaction fetches txid. tip is the node's best height, from which
// the block height follows.
func (n *node) rawTransaction(ctx context.Context, txid wire.Hash, tip uint64) (*rawTx, error) {
	v, err := n.c.GetRawTransactionVerbose(ctx, txid)
	if err != nil {
		return nil, n.hint(err)
	}
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		return nil, fmt.Errorf("getrawtransaction %s: bad hex: %w", txid, err)
	}
	tx, err := wire.DecodeTx(b)
	if err != nil {
		return nil, fmt.Errorf("getrawtransaction %s: %w", txid, err)
	}
	if tx.TxID() != txid {
		return nil, fmt.Errorf("getrawtransaction %s: the node sent transaction %s", txid, tx.TxID())
	}
	r := &rawTx{Tx: tx, Height: -1, Time: int64(max(v.BlockTime, v.Time))}
	if v.Confirmations != nil && *v.Confirmations > 0 && v.BlockHash != nil {
		r.Confirmations = *v.Confirmations
		r.Height = int64(tip) - r.Confirmations + 1
	}
	return r, nil
}

// feeRate returns the node's fee estimate for confirmation within target
// blocks, in base units per byte, falling back to its minimum relay fee.
func (n *node) feeRate(ctx context.Context, target int) (rate uint64, source string, err error) {
	if est, err := n.c.EstimateSmartFee(ctx, target); err == nil && est.FeeRate != nil && *est.FeeRate > 0 {
		return *est.FeeRate, "estimatesmartfee", nil
	}
	info, err := n.c.GetMempoolInfo(ctx)
	if err != nil {
		return 0, "", n.hint(err)
	}
	if info.MinRelayTxFee > 0 {
		return info.MinRelayTxFee, "minimum relay fee", nil
	}
	return 1, "default minimum relay fee", nil
}

// sendRaw submits a signed transaction and returns the txid the node
// reports. It turns the node's maxfeerate check off: the wallet has
// already refused a fee above --max-fee, computed from checked amounts.
func (n *node) sendRaw(ctx context.Context, tx *wire.Tx) (wire.Hash, error) {
	var id wire.Hash
	err := n.c.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(tx.Encode()), 0}, &id)
	return id, n.hint(err)
}

func (n *node) txStatus(ctx context.Context, txid wire.Hash) (*rpcjson.TxStatus, error) {
	st, err := n.c.GetTxStatus(ctx, txid)
	return st, n.hint(err)
}
