package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tally/internal/testgen"
	"tally/wire"
)

// docExample is one captured call for docs/rpc.md.
type docExample struct {
	title    string
	request  string
	response string
	status   int
}

// TestWriteDocs regenerates docs/rpc.md: the introduction from
// testdata/rpc_intro.md, then every method from the method table with
// requests and responses captured from the test node.
//
//	TALLY_RPC_DOCS=1 go test -run TestWriteDocs ./rpc/
func TestWriteDocs(t *testing.T) {
	if os.Getenv("TALLY_RPC_DOCS") == "" {
		t.Skip("set TALLY_RPC_DOCS=1 to regenerate docs/rpc.md")
	}
	intro, err := os.ReadFile(filepath.Join("testdata", "rpc_intro.md"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	// One more block paying a fresh address twice, so that the address
	// examples are short.
	docPKH := [20]byte{0xd0, 0xc5}
	docAddr, _ := wire.EncodeAddress(f.p.AddressPrefix, docPKH)
	s := f.spendable[0]
	f.spendable = f.spendable[1:]
	payDoc := f.g.Tx([]testgen.Spend{s}, []wire.TxOut{{Amount: 150_000_000, PKH: docPKH}, {Amount: 25_000_000, PKH: docPKH}, {Amount: s.Amount - 175_000_000 - 2000, PKH: f.g.PKH}})
	f.spendable = append(f.spendable, testgen.Outputs(payDoc)[2])
	f.addBlock(payDoc)

	examples := map[string][]docExample{}
	id := 0
	capture := func(title, method string, params ...any) json.RawMessage {
		t.Helper()
		id++
		if params == nil {
			params = []any{}
		}
		req, err := json.Marshal(struct {
			JSONRPC string `json:"jsonrpc"`
			ID      int    `json:"id"`
			Method  string `json:"method"`
			Params  []any  `json:"params"`
		}{"2.0", id, method, params})
		if err != nil {
			t.Fatal(err)
		}
		st, body := f.postPriv(string(req))
		examples[method] = append(examples[method], docExample{title: title, request: string(req), response: string(body), status: st})
		var resp struct {
			Result json.RawMessage `json:"result"`
		}
		json.Unmarshal(body, &resp)
		return resp.Result
	}
	tip := f.blocks[21]
	b5 := f.blocks[5]
	pay3 := f.blocks[3].Txs[1]
	parent, child, third := f.poolTxs[0], f.poolTxs[1], f.poolTxs[2]

	capture("", "getblockchaininfo")
	capture("", "getblockcount")
	capture("", "getbestblockhash")
	capture("", "getblockhash", 5)
	capture("a height above the tip", "getblockhash", 99)
	capture("verbosity 1 (the default)", "getblock", b5.BlockID())
	capture("verbosity 0: the block's encoding", "getblock", b5.BlockID(), 0)
	capture("verbosity 2: decoded transactions", "getblock", tip.BlockID(), 2)
	capture("verbosity 3: with prevouts and fees", "getblock", tip.BlockID(), 3)
	capture("", "getblockstats", 21)
	capture("selected statistics", "getblockstats", tip.BlockID(), []string{"totalfee", "txs", "feerate_percentiles"})
	capture("", "getchaintxstats")
	capture("a window of 5 blocks ending at block 10", "getchaintxstats", 5, f.blocks[10].BlockID())
	capture("", "getblockheader", b5.BlockID())
	capture("verbose false: the 88-byte header", "getblockheader", b5.BlockID(), false)
	capture("", "getchaintips")
	capture("", "getdifficulty")
	capture("", "gettxout", pay3.TxID(), 0)
	capture("an output the pool spends (include_mempool defaults to true)", "gettxout", parent.Inputs[0].Prev.TxID, parent.Inputs[0].Prev.Index)
	capture("", "gettxoutsetinfo")

	capture("", "getheaders", 0, 2)
	capture("more than 2000", "getheaders", 0, 2001)
	var proof string
	json.Unmarshal(capture("", "gettxoutproof", []wire.Hash{pay3.TxID()}), &proof)
	capture("a transaction still in the pool", "gettxoutproof", []wire.Hash{parent.TxID()})
	capture("", "verifytxoutproof", proof)
	capture("", "getmerkleproof", pay3.TxID())

	capture("", "getrawtransaction", pay3.TxID())
	capture("verbose", "getrawtransaction", payDoc.TxID(), true)
	capture("verbosity 2: with prevouts and the fee", "getrawtransaction", payDoc.TxID(), 2)
	capture("a transaction that is nowhere", "getrawtransaction", wire.Hash{0xab})
	capture("", "decoderawtransaction", hexOf(third.Encode()))
	capture("", "getrawmempool")
	capture("verbose", "getrawmempool", true)
	capture("", "getmempoolinfo")
	capture("", "getmempoolentry", child.TxID())
	capture("", "estimatesmartfee", 2)
	capture("a target beyond the data", "estimatesmartfee", 1008)
	newTx := f.pay(2500)
	capture("", "sendrawtransaction", hexOf(newTx.Encode()))
	low := f.g.Pay(testgen.Outputs(third)[2:3], 1, 1)
	capture("a fee below the relay minimum", "sendrawtransaction", hexOf(low.Encode()))
	capture("an input nobody created", "sendrawtransaction", hexOf(f.g.Pay([]testgen.Spend{{Out: wire.OutPoint{TxID: wire.Hash{0x99}}, Amount: 10000}}, 1, 1000).Encode()))
	capture("already confirmed", "sendrawtransaction", hexOf(pay3.Encode()))
	capture("in the pool", "gettxstatus", parent.TxID())
	capture("confirmed", "gettxstatus", payDoc.TxID())
	capture("refused", "gettxstatus", low.TxID())
	capture("never seen", "gettxstatus", wire.Hash{0xcd})

	capture("", "getaddressbalance", docAddr)
	capture("", "getaddressutxos", docAddr)
	capture("", "getaddresstxids", docAddr)
	capture("with a height range", "getaddresstxids", docAddr, 0, 20)
	capture("one entry per page", "getaddresstxids", docAddr, map[string]any{"limit": 1})
	capture("", "getaddresshistory", docAddr)
	capture("another network's address", "getaddressbalance", "tly1q87uynck5kzezelgw83aen876f6ew8p46hhwqvs")
	capture("", "validateaddress", docAddr)
	capture("a typo", "validateaddress", docAddr[:len(docAddr)-1]+"x")

	capture("", "getmininginfo")
	capture("", "getblocktemplate")
	next := f.g.Block(f.tip(), nil)
	capture("accepted", "submitblock", hexOf(next.Encode()))
	capture("the same block again", "submitblock", hexOf(next.Encode()))
	f.blocks = append(f.blocks, next)
	capture("a body that does not match the header", "submitblock", hexOf(f.g.Block(f.tip(), nil, func(b *wire.Block) { b.Header.MerkleRoot = wire.Hash{1} }).Encode()))
	capture("not a block", "submitblock", "00")
	capture("", "generatetoaddress", 1, docAddr)

	capture("", "getnetworkinfo")
	capture("", "getpeerinfo")
	capture("", "getconnectioncount")
	capture("", "addnode", "/ip4/192.0.2.7/tcp/8646/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo", "onetry")
	capture("", "uptime")
	capture("one method", "help", "getblockhash")
	capture("every method", "help")
	capture("", "stop")

	var b bytes.Buffer
	b.Write(intro)
	b.WriteString("\n## Methods\n\n| method | public | summary |\n|---|---|---|\n")
	for _, m := range sortedMethods() {
		pub := ""
		if m.Public {
			pub = "yes"
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", m.Name, m.Name, pub, cell(firstSentence(m.Summary)))
	}
	family := ""
	for _, m := range sortedMethods() {
		if m.Family != family {
			family = m.Family
			fmt.Fprintf(&b, "\n## %s\n", family)
		}
		fmt.Fprintf(&b, "\n### %s\n\n`%s`\n\n%s\n", m.Name, m.usage(), m.Summary)
		if !m.Public {
			b.WriteString("\nNot available on the public listener.\n")
		}
		if len(m.Params) > 0 {
			b.WriteString("\n| # | parameter | type | | description |\n|---|---|---|---|---|\n")
			for i, p := range m.Params {
				req := "required"
				if p.Optional {
					req = "optional"
					if p.Default != "" {
						req += ", default " + p.Default
					}
				}
				fmt.Fprintf(&b, "| %d | `%s` | %s | %s | %s |\n", i+1, p.Name, p.Type, req, cell(p.Doc))
			}
		}
		if m.Result != "" {
			fmt.Fprintf(&b, "\n**Result:** %s\n", m.Result)
		}
		if len(m.Errors) > 0 {
			b.WriteString("\n**Errors:**\n\n")
			for _, e := range m.Errors {
				fmt.Fprintf(&b, "- %s\n", e)
			}
		}
		exs := examples[m.Name]
		if len(exs) == 0 {
			t.Errorf("no example for %s", m.Name)
		}
		for _, ex := range exs {
			title := "Example"
			if ex.title != "" {
				title += ": " + ex.title
			}
			fmt.Fprintf(&b, "\n%s\n\n```json\n%s\n```\n\n", title, ex.request)
			status := ""
			if ex.status != 200 {
				status = fmt.Sprintf(" (HTTP %d)", ex.status)
			}
			fmt.Fprintf(&b, "Response%s:\n\n```json\n%s\n```\n", status, pretty(t, ex.response))
		}
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "rpc.md"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// pretty indents a JSON response, keeping the server's field order, and
// shortens hex strings longer than 200 digits (the document says so).
func pretty(t *testing.T, s string) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(strings.TrimSpace(s)), "", "  "); err != nil {
		return s
	}
	return longHex.ReplaceAllStringFunc(out.String(), func(q string) string {
		x := q[1 : len(q)-1]
		return fmt.Sprintf("\"%s...(%d hex digits)...%s\"", x[:64], len(x), x[len(x)-16:])
	})
}

var longHex = regexp.MustCompile(`"[0-9a-f]{201,}"`)

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
