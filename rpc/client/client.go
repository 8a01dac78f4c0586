package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"tally/rpc/rpcjson"
	"time"

	"tally/wire"
)

// maxResponseBytes bounds a response the client reads (getblock of a
// maximum-size block with verbosity 2 fits).
const maxResponseBytes = 64 << 20

// Client calls a Tally node's JSON-RPC server. Safe for concurrent use;
// it keeps connections alive between calls.
type Client struct {
	url        string
	user, pass string
	http       *http.Client
	id         atomic.Uint64
}

// ErrUnauthorized is returned when the server refuses the credentials.
var ErrUnauthorized = errors.New("rpc: authentication failed (HTTP 401): check the cookie file or --rpc-user/--rpc-password")

// ErrRateLimited is returned when the public listener refuses a request
// for going over its rate limit (HTTP 429).
var ErrRateLimited = errors.New("rpc: rate limited by the server (HTTP 429): slow down")

// NewClient returns a client for url ("http://host:port", or "host:port")
// with HTTP Basic credentials (none if user is empty).
func New(url, user, pass string) *Client {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &Client{url: url, user: user, pass: pass, http: &http.Client{Transport: tr}}
}

// ClientFromCookie returns a client using the credentials in a node's
// cookie file (<datadir>/.cookie).
func FromCookie(url, cookiePath string) (*Client, error) {
	b, err := os.ReadFile(cookiePath)
	if err != nil {
		return nil, fmt.Errorf("rpc: read cookie: %w (is the node running? its cookie is <datadir>/.cookie)", err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok || user == "" || pass == "" {
		return nil, fmt.Errorf("rpc: cookie file %s is not user:password", cookiePath)
	}
	return New(url, user, pass), nil
}

// SetHTTPClient replaces the HTTP client (timeouts, transports).
func (c *Client) SetHTTPClient(h *http.Client) { c.http = h }

type clientRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// clientResponse decodes the envelope and the result in one pass: Result
// holds the caller's pointer.
type clientResponse struct {
	Result any               `json:"result"`
	Error  *rpcjson.RPCError `json:"error"`
}

// Call invokes method with positional params and decodes the result into
// result (unless result is nil). A JSON-RPC error comes back as *rpcjson.RPCError.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(clientRequest{JSONRPC: "2.0", ID: c.id.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("rpc: encode %s request: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("rpc: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("rpc: %s: read response: %w", method, err)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusTooManyRequests:
		return ErrRateLimited
	}
	if len(raw) > maxResponseBytes {
		return fmt.Errorf("rpc: %s: response larger than %d bytes", method, maxResponseBytes)
	}
	if result == nil {
		result = new(json.RawMessage)
	}
	// A null result leaves the target as it is, except that *any is set
	// to nil and *json.RawMessage to "null", as json.Unmarshal would.
	if p, ok := result.(*any); ok {
		*p = nil
	}
	r := clientResponse{Result: result}
	err = json.Unmarshal(raw, &r)
	if p, ok := result.(*json.RawMessage); ok && *p == nil {
		*p = json.RawMessage("null")
	}
	if r.Error != nil {
		return r.Error
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("rpc: %s: HTTP %s: %.200q", method, resp.Status, raw)
	}
	if err != nil {
		return fmt.Errorf("rpc: %s: decode response: %w", method, err)
	}
	return nil
}

// GetBlockCount returns the tip's height.
func (c *Client) GetBlockCount(ctx context.Context) (uint64, error) {
	var n uint64
	err := c.Call(ctx, "getblockcount", nil, &n)
	return n, err
}

// GetBestBlockHash returns the tip's id.
func (c *Client) GetBestBlockHash(ctx context.Context) (wire.Hash, error) {
	var h wire.Hash
	err := c.Call(ctx, "getbestblockhash", nil, &h)
	return h, err
}

// GetBlockHash returns the id of the best-chain block at height.
func (c *Client) GetBlockHash(ctx context.Context, height uint64) (wire.Hash, error) {
	var h wire.Hash
	err := c.Call(ctx, "getblockhash", []any{height}, &h)
	return h, err
}

// GetBlockchainInfo returns the state of the best chain.
func (c *Client) GetBlockchainInfo(ctx context.Context) (*rpcjson.BlockchainInfo, error) {
	var r rpcjson.BlockchainInfo
	if err := c.Call(ctx, "getblockchaininfo", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetHeaders returns up to count (at most MaxHeaders) best-chain headers
// from start, decoded.
func (c *Client) GetHeaders(ctx context.Context, start uint64, count int) ([]wire.Header, error) {
	var hexes []string
	if err := c.Call(ctx, "getheaders", []any{start, count}, &hexes); err != nil {
		return nil, err
	}
	out := make([]wire.Header, len(hexes))
	for i, s := range hexes {
		raw, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("rpc: getheaders: header %d: %w", i, err)
		}
		if out[i], err = wire.DecodeHeader(raw); err != nil {
			return nil, fmt.Errorf("rpc: getheaders: header %d: %w", i, err)
		}
	}
	return out, nil
}

// GetMerkleProof returns the Merkle proof of a confirmed transaction
// (the node needs --txindex unless blockHash is given).
func (c *Client) GetMerkleProof(ctx context.Context, txid wire.Hash, blockHash ...wire.Hash) (*rpcjson.MerkleProofResult, error) {
	params := []any{txid}
	if len(blockHash) > 0 {
		params = append(params, blockHash[0])
	}
	var r rpcjson.MerkleProofResult
	if err := c.Call(ctx, "getmerkleproof", params, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SendRawTransaction submits a signed transaction and returns its txid.
func (c *Client) SendRawTransaction(ctx context.Context, tx *wire.Tx) (wire.Hash, error) {
	var h wire.Hash
	err := c.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(tx.Encode())}, &h)
	return h, err
}

// GetRawTransaction returns a transaction from the pool, or a block (the
// node needs --txindex unless blockHash is given).
func (c *Client) GetRawTransaction(ctx context.Context, txid wire.Hash, blockHash ...wire.Hash) (*wire.Tx, error) {
	params := []any{txid, false}
	if len(blockHash) > 0 {
		params = append(params, blockHash[0])
	}
	var s string
	if err := c.Call(ctx, "getrawtransaction", params, &s); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("rpc: getrawtransaction: %w", err)
	}
	tx, err := wire.DecodeTx(raw)
	if err != nil {
		return nil, fmt.Errorf("rpc: getrawtransaction: %w", err)
	}
	if tx.TxID() != txid {
		return nil, fmt.Errorf("rpc: getrawtransaction: the node returned transaction %s for %s", tx.TxID(), txid)
	}
	return tx, nil
}

// GetRawTransactionVerbose returns a decoded transaction with its block
// and confirmations when confirmed.
func (c *Client) GetRawTransactionVerbose(ctx context.Context, txid wire.Hash, blockHash ...wire.Hash) (*rpcjson.TxResult, error) {
	params := []any{txid, true}
	if len(blockHash) > 0 {
		params = append(params, blockHash[0])
	}
	var r rpcjson.TxResult
	if err := c.Call(ctx, "getrawtransaction", params, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetAddressBalance returns an address's balance (the node needs
// --addrindex).
func (c *Client) GetAddressBalance(ctx context.Context, addr string) (*rpcjson.AddressBalance, error) {
	var r rpcjson.AddressBalance
	if err := c.Call(ctx, "getaddressbalance", []any{addr}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// pageOpts is the options argument of the paged address methods.
func pageOpts(after string, limit int) map[string]any {
	o := map[string]any{}
	if after != "" {
		o["after"] = after
	}
	if limit > 0 {
		o["limit"] = limit
	}
	return o
}

// GetAddressUTXOPage returns one page of an address's unspent outputs,
// after the cursor after ("" for the first page), at most limit (0: the
// node's default); the node needs --addrindex. The last page (Next nil)
// holds the outputs of pool transactions too, with a nil Height.
func (c *Client) GetAddressUTXOPage(ctx context.Context, addr, after string, limit int) (*rpcjson.AddressUTXOPage, error) {
	var r rpcjson.AddressUTXOPage
	if err := c.Call(ctx, "getaddressutxos", []any{addr, pageOpts(after, limit)}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetAddressUTXOs returns every unspent output of an address, page after
// page.
func (c *Client) GetAddressUTXOs(ctx context.Context, addr string) ([]rpcjson.AddressUTXO, error) {
	var all []rpcjson.AddressUTXO
	after := ""
	for {
		pg, err := c.GetAddressUTXOPage(ctx, addr, after, 0)
		if err != nil {
			return nil, err
		}
		all = append(all, pg.UTXOs...)
		if pg.Next == nil {
			return all, nil
		}
		if *pg.Next == after {
			return nil, fmt.Errorf("rpc: getaddressutxos: the node repeated cursor %q", after)
		}
		after = *pg.Next
	}
}

// GetAddressHistoryPage returns one page of an address's history (see
// GetAddressUTXOPage for the paging).
func (c *Client) GetAddressHistoryPage(ctx context.Context, addr, after string, limit int) (*rpcjson.AddressHistoryPage, error) {
	var r rpcjson.AddressHistoryPage
	if err := c.Call(ctx, "getaddresshistory", []any{addr, pageOpts(after, limit)}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetAddressTxIDs returns every transaction that paid or spent an
// address, confirmed ones by height then the pool's (the node needs
// --addrindex).
func (c *Client) GetAddressTxIDs(ctx context.Context, addr string) ([]rpcjson.AddressTxID, error) {
	var all []rpcjson.AddressTxID
	after := ""
	for {
		var pg rpcjson.AddressTxIDPage
		if err := c.Call(ctx, "getaddresstxids", []any{addr, pageOpts(after, 0)}, &pg); err != nil {
			return nil, err
		}
		all = append(all, pg.TxIDs...)
		if pg.Next == nil {
			return all, nil
		}
		if *pg.Next == after {
			return nil, fmt.Errorf("rpc: getaddresstxids: the node repeated cursor %q", after)
		}
		after = *pg.Next
	}
}

// EstimateSmartFee returns a fee rate estimate for confirmation within n
// blocks; FeeRate is nil when the node has too little data.
func (c *Client) EstimateSmartFee(ctx context.Context, n int) (*rpcjson.FeeEstimate, error) {
	var r rpcjson.FeeEstimate
	if err := c.Call(ctx, "estimatesmartfee", []any{n}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetTxStatus says where a transaction stands.
func (c *Client) GetTxStatus(ctx context.Context, txid wire.Hash) (*rpcjson.TxStatus, error) {
	var r rpcjson.TxStatus
	if err := c.Call(ctx, "gettxstatus", []any{txid}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetMempoolInfo returns the pool's size and policy.
func (c *Client) GetMempoolInfo(ctx context.Context) (*rpcjson.MempoolInfo, error) {
	var r rpcjson.MempoolInfo
	if err := c.Call(ctx, "getmempoolinfo", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GenerateToAddress mines n blocks paying addr (dev networks) and returns
// their ids.
func (c *Client) GenerateToAddress(ctx context.Context, n int, addr string) ([]wire.Hash, error) {
	var r []wire.Hash
	err := c.Call(ctx, "generatetoaddress", []any{n, addr}, &r)
	return r, err
}

// WaitForHeight polls getblockcount until the tip reaches height or ctx
// ends.
func (c *Client) WaitForHeight(ctx context.Context, height uint64, every time.Duration) error {
	for {
		h, err := c.GetBlockCount(ctx)
		if err == nil && h >= height {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
