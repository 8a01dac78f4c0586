package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wallet"
	"tally/wire"
)

// fakeNode answers the JSON-RPC methods the wallet uses from a chain of
// blocks built in memory, and records what it is sent.
type fakeNode struct {
	t      *testing.T
	p      *consensus.Params
	mu     sync.Mutex
	blocks []*wire.Block
	utxos  map[string][]map[string]any // by address
	sent   []*wire.Tx
	// tamperProof, if set, changes getmerkleproof results.
	tamperProof func(map[string]any)
	feeRate     *uint64
	// txs are served by getrawtransaction (height -1: in the mempool) and
	// addrTxs by getaddresstxids.
	txs         map[wire.Hash]*wire.Tx
	txHeight    map[wire.Hash]int64
	addrTxs     map[string][]wire.Hash
	statusCalls int
	// chainInfo, if set, is the getblockchaininfo result.
	chainInfo  map[string]any
	srv        *httptest.Server
	user, pass string
}

func newFakeNode(t *testing.T, p *consensus.Params, blocks []*wire.Block) *fakeNode {
	f := &fakeNode{t: t, p: p, blocks: blocks, utxos: make(map[string][]map[string]any), user: "__cookie__", pass: "secret",
		txs: make(map[wire.Hash]*wire.Tx), txHeight: make(map[wire.Hash]int64), addrTxs: make(map[string][]wire.Hash)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// writeCookie writes the node's cookie file and returns its path.
func (f *fakeNode) writeCookie(dir string) string {
	path := filepath.Join(dir, ".cookie")
	if err := os.WriteFile(path, []byte(f.user+":"+f.pass), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		ID     any               `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	f.mu.Lock()
	result, rpcErr := f.handle(req.Method, req.Params)
	f.mu.Unlock()
	resp := map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result}
	if rpcErr != nil {
		resp = map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": rpcErr}
	}
	json.NewEncoder(w).Encode(resp)
}

func (f *fakeNode) arg(params []json.RawMessage, i int, v any) {
	if i < len(params) {
		if err := json.Unmarshal(params[i], v); err != nil {
			f.t.Errorf("param %d: %v", i, err)
		}
	}
}

func (f *fakeNode) tip() uint64 { return uint64(len(f.blocks) - 1) }

func (f *fakeNode) handle(method string, params []json.RawMessage) (any, map[string]any) {
	notFound := map[string]any{"code": -5, "message": "not found"}
	switch method {
	case "getblockchaininfo":
		if f.chainInfo == nil {
			break
		}
		return f.chainInfo, nil
	case "getblockcount":
		return f.tip(), nil
	case "getblockhash":
		var h uint64
		f.arg(params, 0, &h)
		return f.blocks[h].BlockID(), nil
	case "getaddressutxos":
		var a string
		f.arg(params, 0, &a)
		out := f.utxos[a]
		if out == nil {
			out = []map[string]any{}
		}
		return map[string]any{"utxos": out, "next": nil}, nil
	case "estimatesmartfee":
		if f.feeRate != nil {
			return map[string]any{"feerate": *f.feeRate, "blocks": 2}, nil
		}
		return map[string]any{"errors": []string{"not enough data"}, "blocks": 0}, nil
	case "getmempoolinfo":
		return map[string]any{"minrelaytxfee": 1}, nil
	case "sendrawtransaction":
		var x string
		f.arg(params, 0, &x)
		b, _ := hex.DecodeString(x)
		tx, err := wire.DecodeTx(b)
		if err != nil {
			return nil, map[string]any{"code": -22, "message": err.Error()}
		}
		if err := consensus.CheckTxSignatures(tx, tx.TxID(), f.p.NetworkID, nil); err != nil {
			return nil, map[string]any{"code": -26, "message": err.Error()}
		}
		f.sent = append(f.sent, tx)
		f.txs[tx.TxID()], f.txHeight[tx.TxID()] = tx, -1
		return tx.TxID(), nil
	case "gettxstatus":
		// In the pool at the first call, then one more confirmation per call.
		f.statusCalls++
		if f.statusCalls == 1 {
			return map[string]any{"status": "mempool"}, nil
		}
		return map[string]any{"status": "confirmed", "height": 3, "confirmations": f.statusCalls - 1}, nil
	case "getaddresstxids":
		var a string
		f.arg(params, 0, &a)
		out := []map[string]any{}
		for _, id := range f.addrTxs[a] {
			e := map[string]any{"txid": id, "height": nil}
			if h, ok := f.txHeight[id]; !ok || h >= 0 {
				e["height"] = max(h, 0)
			}
			out = append(out, e)
		}
		return map[string]any{"txids": out, "next": nil}, nil
	case "getrawtransaction":
		var id wire.Hash
		f.arg(params, 0, &id)
		tx, ok := f.txs[id]
		if !ok {
			return nil, notFound
		}
		res := map[string]any{"txid": id, "hex": hex.EncodeToString(tx.Encode())}
		if h := f.txHeight[id]; h >= 0 {
			res["blockhash"] = f.blocks[h].BlockID()
			res["confirmations"] = int64(f.tip()) - h + 1
		}
		return res, nil
	case "gettxout":
		return nil, nil
	case "getheaders":
		var start uint64
		var count int
		f.arg(params, 0, &start)
		f.arg(params, 1, &count)
		out := []string{}
		for h := start; h < uint64(len(f.blocks)) && len(out) < count; h++ {
			out = append(out, hex.EncodeToString(f.blocks[h].Header.Encode()))
		}
		return out, nil
	case "getmerkleproof":
		var txid wire.Hash
		f.arg(params, 0, &txid)
		for h, b := range f.blocks {
			ids := b.TxIDs()
			for i, id := range ids {
				if id != txid {
					continue
				}
				mp, _ := wire.BuildMerkleProof(ids, i)
				res := map[string]any{"block_height": h, "blockhash": b.BlockID(), "pos": mp.Index, "leaf_count": mp.LeafCount,
					"merkle": mp.Path, "header": hex.EncodeToString(b.Header.Encode()), "chainwork": "00"}
				if mp.Path == nil {
					res["merkle"] = []wire.Hash{}
				}
				if f.tamperProof != nil {
					f.tamperProof(res)
				}
				return res, nil
			}
		}
		return nil, notFound
	}
	return nil, map[string]any{"code": -32601, "message": "method not found: " + method}
}

// run runs the wallet command line in-process and returns its output.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp(strings.NewReader(stdin), &out, &errOut)
	err = app.RunContext(context.Background(), append([]string{"wallet"}, args...))
	return out.String(), errOut.String(), err
}

// mustRun is run that fails the test on an error.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("wallet %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// jsonOut decodes one JSON object.
func jsonOut(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("more than one JSON value:\n%s", s)
	}
	return m
}

// devWallet writes a keystore like noded's dev.wallet: the dev key
// imported, no seed, passphrase "dev".
func devWallet(t *testing.T, p *consensus.Params, path string) {
	t.Helper()
	w, err := wallet.Create(path, []byte("dev"), nil, wallet.Network{Name: p.Network, AddressPrefix: p.AddressPrefix}, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ImportKey(consensus.DevPrivateKey()); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
}

var fastKDF = wallet.KDFParams{KDF: wallet.KDFArgon2id, Time: 1, MemoryKiB: 64, Threads: 1}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// devChain returns the dev network's genesis block and n blocks on it;
// block 2 holds txs extra transactions.
func devChain(t *testing.T, n int, txs []*wire.Tx) (*consensus.Params, []*wire.Block) {
	p := testgen.DevParams()
	g := testgen.New(p)
	blocks := []*wire.Block{p.Genesis}
	for h := 1; h <= n; h++ {
		var body []*wire.Tx
		if h == 2 {
			body = txs
		}
		blocks = append(blocks, g.Block(testgen.ParentOf(blocks[h-1], uint64(h-1)), body))
	}
	return p, blocks
}

func devAddress(t *testing.T, p *consensus.Params) string {
	a, err := wire.EncodeAddress(p.AddressPrefix, consensus.DevPKH())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mkdir makes path's directory and returns path.
func mkdir(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}
