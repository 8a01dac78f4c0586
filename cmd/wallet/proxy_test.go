package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"tally/internal/testgen"
	"tally/wallet"
	"tally/wire"
)

// lyingProxy stands between the wallet and a real node and rewrites the
// results of chosen methods, as a hostile or broken node would.
type lyingProxy struct {
	t      *testing.T
	target string
	mu     sync.Mutex
	// lie rewrites the result of method, or returns it unchanged.
	lie  func(method string, result json.RawMessage) json.RawMessage
	sent int // sendrawtransaction calls that reached the node
	srv  *httptest.Server
}

func newLyingProxy(t *testing.T, target string) *lyingProxy {
	p := &lyingProxy{t: t, target: target}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *lyingProxy) setLie(f func(method string, result json.RawMessage) json.RawMessage) {
	p.mu.Lock()
	p.lie = f
	p.mu.Unlock()
}

func (p *lyingProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Method string `json:"method"`
	}
	json.Unmarshal(body, &req)
	fwd, _ := http.NewRequest(http.MethodPost, "http://"+strings.TrimPrefix(p.target, "http://"), bytes.NewReader(body))
	fwd.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(fwd)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env map[string]json.RawMessage
	if json.Unmarshal(raw, &env) == nil && env["result"] != nil {
		p.mu.Lock()
		if req.Method == "sendrawtransaction" {
			p.sent++
		}
		lie := p.lie
		p.mu.Unlock()
		if lie != nil {
			env["result"] = lie(req.Method, env["result"])
		}
		raw, _ = json.Marshal(env)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	w.Write(raw)
}

// editUTXOs rewrites the entries of a getaddressutxos page.
func editUTXOs(result json.RawMessage, f func(list []map[string]any) []map[string]any) json.RawMessage {
	var page struct {
		UTXOs []map[string]any `json:"utxos"`
		Next  *string          `json:"next"`
	}
	if json.Unmarshal(result, &page) != nil || len(page.UTXOs) == 0 {
		return result
	}
	page.UTXOs = f(page.UTXOs)
	out, _ := json.Marshal(page)
	return out
}

// mapUTXOs applies f to every entry of a getaddressutxos page.
func mapUTXOs(result json.RawMessage, f func(u map[string]any)) json.RawMessage {
	return editUTXOs(result, func(list []map[string]any) []map[string]any {
		for _, u := range list {
			f(u)
		}
		return list
	})
}

// TestLyingNode runs send through a proxy that lies in each way a node
// can lie about the coins: every lie is refused before signing, nothing
// reaches the node, and the honest path pays exactly the fee it showed.
func TestLyingNode(t *testing.T) {
	n := newRPCNode(t)
	p := testgen.DevParams()
	dir := t.TempDir()
	proxy := newLyingProxy(t, n.url)
	pf := writeFile(t, filepath.Join(dir, "pf"), "pw")
	alice := []string{"--dev", "--wallet", filepath.Join(dir, "alice", "wallet"), "--passphrase-file", pf, "--rpc", proxy.srv.URL, "--rpc-cookie", n.cookie}
	addr := jsonOut(t, mustRun(t, "", append(alice, "create", "--json")...))["address"].(string)
	n.fund(t, addr, 3*wallet.BaseUnitsPerTally)
	n.fund(t, addr, 2*wallet.BaseUnitsPerTally)
	to, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{7})
	send := func(amount string) []string {
		return append(append([]string{}, alice...), "send", "--to", to, "--amount", amount, "--yes", "--json")
	}

	otherBlock := n.mine(t, 1)[0] // a real block, at another height than the coins'
	cases := []struct {
		name, amount string
		lie          func(method string, result json.RawMessage) json.RawMessage
		want         string
	}{
		// The attack: coins reported at a tenth of their value,
		// so the change is computed from the small value and the rest
		// would go to the miner as fee.
		{"under-reported values", "0.1", func(m string, r json.RawMessage) json.RawMessage {
			if m != "getaddressutxos" {
				return r
			}
			return mapUTXOs(r, func(u map[string]any) { u["value"] = u["value"].(float64) / 10 })
		}, "is lying or broken"},
		{"over-reported values", "1", func(m string, r json.RawMessage) json.RawMessage {
			if m != "getaddressutxos" {
				return r
			}
			return mapUTXOs(r, func(u map[string]any) { u["value"] = u["value"].(float64) * 10 })
		}, "is lying or broken"},
		{"a coin that does not exist", "1", func(m string, r json.RawMessage) json.RawMessage {
			if m != "getaddressutxos" {
				return r
			}
			return editUTXOs(r, func(list []map[string]any) []map[string]any {
				fake := map[string]any{}
				for k, v := range list[0] {
					fake[k] = v
				}
				fake["txid"] = wire.H([]byte("no such transaction")).String()
				fake["value"] = 1.5 * wallet.BaseUnitsPerTally // the smallest single coin that pays 1
				return append(list, fake)
			})
		}, "coin not verified"},
		{"a proof for a block off the wallet's chain", "1", func(m string, r json.RawMessage) json.RawMessage {
			if m != "getmerkleproof" {
				return r
			}
			var pr map[string]any
			json.Unmarshal(r, &pr)
			// Another block's header claimed at the coin's height: the
			// light client has its own header there.
			h, err := n.cli.GetHeaders(context.Background(), 0, 100)
			if err != nil {
				t.Error(err)
			}
			for _, hd := range h {
				if hd.BlockID() == otherBlock {
					pr["header"] = hex.EncodeToString(hd.Encode())
					pr["blockhash"] = otherBlock.String()
				}
			}
			out, _ := json.Marshal(pr)
			return out
		}, "not on the most-work chain"},
		{"a transaction that is not the coin's", "1", func(m string, r json.RawMessage) json.RawMessage {
			if m != "getrawtransaction" {
				return r
			}
			var x string
			json.Unmarshal(r, &x)
			b, _ := hex.DecodeString(x)
			tx, _ := wire.DecodeTx(b)
			tx.Outputs[0].Amount *= 10
			out, _ := json.Marshal(hex.EncodeToString(tx.Encode()))
			return out
		}, "the node sent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proxy.setLie(c.lie)
			defer proxy.setLie(nil)
			before := proxy.sent
			var out, errOut bytes.Buffer
			code := runMain(context.Background(), append([]string{"wallet"}, send(c.amount)...), strings.NewReader(""), &out, &errOut)
			if code != exitError {
				t.Fatalf("exit %d, want %d: %s %s", code, exitError, out.String(), errOut.String())
			}
			e, _ := jsonOut(t, out.String())["error"].(map[string]any)
			if e["code"] != "unverified_coin" || !strings.Contains(e["message"].(string), c.want) {
				t.Fatalf("error %v, want unverified_coin saying %q", e, c.want)
			}
			if proxy.sent != before {
				t.Fatal("a transaction reached the node")
			}
		})
	}

	// Honest: the fee shown is the fee the pool sees.
	res := jsonOut(t, mustRun(t, "", send("1")...))
	id, _ := wire.ParseHash(res["txid"].(string))
	st, err := n.cli.GetTxStatus(context.Background(), id)
	if err != nil || st.Fee == nil || *st.Fee != uint64(res["fee_base"].(float64)) {
		t.Fatalf("shown fee %v, the pool's %+v (%v)", res["fee_base"], st, err)
	}
	// --max-fee: a fee rate that would pay more is refused before signing.
	var out, errOut bytes.Buffer
	code := runMain(context.Background(), append([]string{"wallet"}, append(alice, "send", "--to", to, "--amount", "1", "--fee-rate", "1000000", "--yes", "--json")...),
		strings.NewReader(""), &out, &errOut)
	if e, _ := jsonOut(t, out.String())["error"].(map[string]any); code != exitError || e["code"] != "fee_too_high" {
		t.Fatalf("exit %d: %s", code, out.String())
	}
}

// TestLyingNodeUnconfirmed: the only unconfirmed coins the wallet spends
// are outputs of transactions it signed, with the amounts it wrote. A
// node inflating the wallet's pending change, or inventing a pool coin
// paying it, gets no signature.
func TestLyingNodeUnconfirmed(t *testing.T) {
	n := newRPCNode(t)
	p := testgen.DevParams()
	dir := t.TempDir()
	proxy := newLyingProxy(t, n.url)
	pf := writeFile(t, filepath.Join(dir, "pf"), "pw")
	alice := []string{"--dev", "--wallet", filepath.Join(dir, "alice"), "--passphrase-file", pf, "--rpc", proxy.srv.URL, "--rpc-cookie", n.cookie}
	addr := jsonOut(t, mustRun(t, "", append(alice, "create", "--json")...))["address"].(string)
	n.fund(t, addr, 3*wallet.BaseUnitsPerTally)
	to, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{7})
	// Pending: 1 TALLY out, about 2 TALLY of change in the pool.
	mustRun(t, "", append(alice, "send", "--to", to, "--amount", "1", "--json")...)
	send := func(amount string) (int, map[string]any) {
		var out, errOut bytes.Buffer
		code := runMain(context.Background(), append([]string{"wallet"}, append(alice, "send", "--to", to, "--amount", amount, "--yes", "--json")...),
			strings.NewReader(""), &out, &errOut)
		return code, jsonOut(t, out.String())
	}

	// The change reported at ten times its value.
	proxy.setLie(func(m string, r json.RawMessage) json.RawMessage {
		if m != "getaddressutxos" {
			return r
		}
		return mapUTXOs(r, func(u map[string]any) {
			if u["height"] == nil {
				u["value"] = u["value"].(float64) * 10
			}
		})
	})
	before := proxy.sent
	code, res := send("5")
	if e, _ := res["error"].(map[string]any); code != exitError || e["code"] != "unverified_coin" || proxy.sent != before {
		t.Fatalf("inflated change: exit %d %v", code, res)
	}

	// A pool coin nobody made, paying the wallet 100 TALLY.
	proxy.setLie(func(m string, r json.RawMessage) json.RawMessage {
		if m != "getaddressutxos" {
			return r
		}
		return editUTXOs(r, func(list []map[string]any) []map[string]any {
			return append(list, map[string]any{"address": addr, "txid": wire.H([]byte("invented")).String(), "vout": 0,
				"value": 100 * wallet.BaseUnitsPerTally, "height": nil, "coinbase": false, "confirmations": 0})
		})
	})
	code, res = send("50")
	if e, _ := res["error"].(map[string]any); code != exitError || e["code"] != "insufficient_funds" || proxy.sent != before {
		t.Fatalf("invented pool coin: exit %d %v", code, res)
	}
	// Honest again: the real change pays.
	proxy.setLie(nil)
	if code, res = send("1.5"); code != exitOK || res["inputs"] != float64(1) {
		t.Fatalf("spending the real change: exit %d %v", code, res)
	}
}
