package rpc

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"tally/rpc/rpcjson"
	"testing"
	"time"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/wire"
)

// tcase is one call and what it must answer: an error code, a result
// equal to want (compared as JSON), and/or a check of the raw result.
type tcase struct {
	name   string
	method string
	params []any
	code   int
	msg    string // the error message must contain it
	want   any
	check  func(t *testing.T, raw json.RawMessage)
}

func (f *fixture) run(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		name := tc.name
		if name == "" {
			name = tc.method
		}
		t.Run(name, func(t *testing.T) {
			var raw json.RawMessage
			err := f.call(tc.method, tc.params, &raw)
			if tc.code != 0 {
				if rpcCode(err) != tc.code {
					t.Fatalf("%s %v: got %v (result %s), want error %d", tc.method, tc.params, err, raw, tc.code)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("%s: error %q does not say %q", tc.method, err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %v: %v", tc.method, tc.params, err)
			}
			if tc.want != nil {
				assertJSON(t, raw, tc.want)
			}
			if tc.check != nil {
				tc.check(t, raw)
			}
		})
	}
}

// assertJSON compares raw with want marshaled, as generic JSON values.
func assertJSON(t *testing.T, raw json.RawMessage, want any) {
	t.Helper()
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	mustJSON(t, raw, &g)
	mustJSON(t, wb, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", raw, wb)
	}
}

// wantTxIDs checks a getaddresstxids page: the confirmed txids ids, in
// order, on one page, then (withPool) pool entries (height null) for
// every pool transaction paying other.
func wantTxIDs(f *fixture, ids []string, withPool bool) func(t *testing.T, raw json.RawMessage) {
	return func(t *testing.T, raw json.RawMessage) {
		var pg rpcjson.AddressTxIDPage
		mustJSON(t, raw, &pg)
		var got []string
		pool := 0
		for _, e := range pg.TxIDs {
			if e.Height == nil {
				if !f.pool.Has(e.TxID) {
					t.Fatalf("pool entry %s not in the pool", e.TxID)
				}
				pool++
				continue
			}
			if pool > 0 {
				t.Fatal("a confirmed entry after a pool entry")
			}
			got = append(got, e.TxID.String())
		}
		n, _ := f.poolPaying(other)
		if !withPool {
			n = 0
		}
		if pg.Next != nil || !slices.Equal(got, ids) || pool != n {
			t.Fatalf("got %v (next %v) and %d pool entries\nwant %v and %d", got, pg.Next, pool, ids, n)
		}
	}
}

// poolPaying counts the pool transactions paying pkh and sums what they
// pay it.
func (f *fixture) poolPaying(pkh [20]byte) (n int, sum uint64) {
	for _, id := range f.pool.TxIDs() {
		e, _ := f.pool.Get(id)
		paid := false
		for _, o := range e.Tx.Outputs {
			if o.PKH == pkh {
				sum += o.Amount
				paid = true
			}
		}
		if paid {
			n++
		}
	}
	return n, sum
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// counter counts calls per method through Config.OnRequest.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(m string) {
	c.mu.Lock()
	c.n[m]++
	c.mu.Unlock()
}

// TestEveryMethod calls every method over HTTP with the cookie client and
// checks shapes and values, then checks that none was left out.
func TestEveryMethod(t *testing.T) {
	calls := &counter{n: map[string]int{}}
	f := newFixture(t, func(o *fixtureOpts) { o.cfg = func(c *Config) { c.OnRequest = calls.add } })
	p := f.p
	tipID := f.blocks[20].BlockID()
	tipInfo, _ := f.c.BlockInfo(tipID)
	b5 := f.blocks[5]
	b5ID := b5.BlockID()
	b5Info, _ := f.c.BlockInfo(b5ID)
	pay3 := f.blocks[3].Txs[1] // pays other 5,000 in output 0, confirmed at height 3
	pay3ID := pay3.TxID()
	parent, child, third := f.poolTxs[0], f.poolTxs[1], f.poolTxs[2]
	medianAt := func(h int) uint64 {
		var ts []uint64
		for i := max(0, h-10); i <= h; i++ {
			ts = append(ts, f.blocks[i].Header.Time)
		}
		return consensus.MedianTime(ts)
	}
	hashPtr := func(h wire.Hash) *wire.Hash { return &h }

	t.Run("chain", func(t *testing.T) {
		f.run(t, []tcase{
			{method: "getblockchaininfo", want: rpcjson.BlockchainInfo{
				Chain: "tally-dev", Blocks: 20, Headers: 20, BestBlockHash: tipID, Bits: "207fffff",
				Target: "7fffff0000000000000000000000000000000000000000000000000000000000", Difficulty: 1,
				Time: f.blocks[20].Header.Time, MedianTime: medianAt(20), VerificationProgress: 1,
				ChainWork: fmt.Sprintf("%064x", tipInfo.Work), TxIndex: true, AddrIndex: true,
			}},
			{method: "getblockcount", want: 20},
			{method: "getbestblockhash", want: tipID},
			{method: "getblockhash", params: []any{5}, want: b5ID},
			{name: "getblockhash/genesis", method: "getblockhash", params: []any{0}, want: p.GenesisID},
			{name: "getblockhash/above-tip", method: "getblockhash", params: []any{21}, code: rpcjson.CodeInvalidParameter},
			{name: "getblockhash/negative", method: "getblockhash", params: []any{-1}, code: rpcjson.CodeInvalidParameter},
			{name: "getblockhash/1e400", method: "getblockhash", params: []any{json.RawMessage("1e400")}, code: rpcjson.CodeInvalidParameter},
			{name: "getblockhash/2^70", method: "getblockhash", params: []any{json.RawMessage("1180591620717411303424")}, code: rpcjson.CodeInvalidParameter},
			{name: "getblockhash/fraction", method: "getblockhash", params: []any{1.5}, code: rpcjson.CodeInvalidParameter},
			{name: "getblockhash/string", method: "getblockhash", params: []any{"5"}, code: rpcjson.CodeInvalidParams},
			{name: "getblockhash/missing", method: "getblockhash", code: rpcjson.CodeInvalidParams},
			{name: "getblockhash/too-many", method: "getblockhash", params: []any{1, 2}, code: rpcjson.CodeInvalidParams},
			{method: "getblock", params: []any{b5ID}, want: rpcjson.BlockResult{
				Hash: b5ID, Confirmations: 16, Size: len(b5.Encode()), Height: 5, Version: 1, MerkleRoot: b5.Header.MerkleRoot,
				Tx: b5.TxIDs(), Time: b5.Header.Time, MedianTime: medianAt(5), Nonce: b5.Header.Nonce, Bits: "207fffff",
				Target: "7fffff0000000000000000000000000000000000000000000000000000000000", Difficulty: 1,
				ChainWork: fmt.Sprintf("%064x", b5Info.Work), NTx: 3,
				PreviousBlockHash: hashPtr(f.blocks[4].BlockID()), NextBlockHash: hashPtr(f.blocks[6].BlockID()),
			}},
			{name: "getblock/0", method: "getblock", params: []any{b5ID, 0}, want: hexOf(b5.Encode())},
			{name: "getblock/false", method: "getblock", params: []any{b5ID, false}, want: hexOf(b5.Encode())},
			{name: "getblock/2", method: "getblock", params: []any{b5ID, 2}, check: func(t *testing.T, raw json.RawMessage) {
				var r struct {
					Height uint64             `json:"height"`
					Tx     []rpcjson.TxResult `json:"tx"`
				}
				mustJSON(t, raw, &r)
				if r.Height != 5 || len(r.Tx) != 3 || !r.Tx[0].Coinbase || len(r.Tx[0].Vin) != 0 || r.Tx[1].TxID != b5.Txs[1].TxID() {
					t.Fatalf("verbosity 2: %s", raw)
				}
				v := r.Tx[1].Vout[0]
				if v.Value != 5000 || v.Address != f.otherAddr || v.PKH != hexOf(other[:]) || v.N != 0 {
					t.Fatalf("vout: %+v", v)
				}
				if r.Tx[1].Vin[0].Address != f.genAddr || r.Tx[1].Hex != hexOf(b5.Txs[1].Encode()) {
					t.Fatalf("vin: %+v", r.Tx[1].Vin[0])
				}
				if r.Tx[0].Extra != hexOf(b5.Txs[0].Extra) || !strings.HasPrefix(r.Tx[0].Extra, "0500000000000000") {
					t.Fatalf("coinbase extra %s", r.Tx[0].Extra)
				}
			}},
			{name: "getblock/genesis", method: "getblock", params: []any{p.GenesisID}, check: func(t *testing.T, raw json.RawMessage) {
				var r map[string]any
				mustJSON(t, raw, &r)
				if _, ok := r["previousblockhash"]; ok || r["confirmations"].(float64) != 21 || r["nextblockhash"] != f.blocks[1].BlockID().String() {
					t.Fatalf("genesis: %s", raw)
				}
			}},
			{name: "getblock/tip", method: "getblock", params: []any{tipID}, check: func(t *testing.T, raw json.RawMessage) {
				var r map[string]any
				mustJSON(t, raw, &r)
				if _, ok := r["nextblockhash"]; ok || r["confirmations"].(float64) != 1 {
					t.Fatalf("tip: %s", raw)
				}
			}},
			{name: "getblock/unknown", method: "getblock", params: []any{wire.Hash{1}}, code: rpcjson.CodeNotFound},
			{name: "getblock/bad-hash", method: "getblock", params: []any{"zz"}, code: rpcjson.CodeInvalidParameter},
			{name: "getblock/verbosity-4", method: "getblock", params: []any{b5ID, 4}, code: rpcjson.CodeInvalidParameter},
			{name: "getblock/named", method: "getblock", params: nil, code: rpcjson.CodeInvalidParams},
			// Field-by-field checks: blockstats_test.go.
			{name: "getblockstats/too-high", method: "getblockstats", params: []any{21}, code: rpcjson.CodeInvalidParameter},
			{name: "getblockstats/bad-stat", method: "getblockstats", params: []any{5, []string{"txs", "nonsense"}}, code: rpcjson.CodeInvalidParameter},
			{name: "getchaintxstats/window", method: "getchaintxstats", params: []any{20}, code: rpcjson.CodeInvalidParameter},
			{method: "getblockheader", params: []any{b5ID}, want: rpcjson.BlockHeaderResult{
				Hash: b5ID, Confirmations: 16, Height: 5, Version: 1, MerkleRoot: b5.Header.MerkleRoot,
				Time: b5.Header.Time, MedianTime: medianAt(5), Nonce: b5.Header.Nonce, Bits: "207fffff",
				Target: "7fffff0000000000000000000000000000000000000000000000000000000000", Difficulty: 1,
				ChainWork: fmt.Sprintf("%064x", b5Info.Work), NTx: 3,
				PreviousBlockHash: hashPtr(f.blocks[4].BlockID()), NextBlockHash: hashPtr(f.blocks[6].BlockID()),
			}},
			{name: "getblockheader/hex", method: "getblockheader", params: []any{b5ID, false}, want: hexOf(b5.Header.Encode())},
			{name: "getblockheader/unknown", method: "getblockheader", params: []any{wire.Hash{2}}, code: rpcjson.CodeNotFound},
			{name: "getblockheader/verbose-string", method: "getblockheader", params: []any{b5ID, "yes"}, code: rpcjson.CodeInvalidParams},
			{method: "getchaintips", want: []rpcjson.ChainTip{{Height: 20, Hash: tipID, Status: "active"}}},
			{method: "getdifficulty", want: 1},
			{method: "gettxout", params: []any{pay3ID, 0}, want: rpcjson.TxOutResult{BestBlock: tipID, Confirmations: 18, Value: 5000, Address: f.otherAddr, PKH: hexOf(other[:])}},
			{name: "gettxout/coinbase", method: "gettxout", params: []any{f.blocks[2].Txs[0].TxID(), 0}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.TxOutResult
				mustJSON(t, raw, &r)
				if !r.Coinbase || r.Confirmations != 19 || r.Value != consensus.Subsidy(p, 2)+3000 || r.Address != f.genAddr {
					t.Fatalf("coinbase output: %s", raw)
				}
			}},
			{name: "gettxout/spent", method: "gettxout", params: []any{f.blocks[1].Txs[1].TxID(), 1}, want: nil, check: wantNull},
			{name: "gettxout/spent-in-pool", method: "gettxout", params: []any{parent.Inputs[0].Prev.TxID, parent.Inputs[0].Prev.Index}, check: wantNull},
			{name: "gettxout/spent-in-pool-ignored", method: "gettxout", params: []any{parent.Inputs[0].Prev.TxID, parent.Inputs[0].Prev.Index, false}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.TxOutResult
				mustJSON(t, raw, &r)
				if r.Value == 0 || r.Confirmations == 0 {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "gettxout/pool-output", method: "gettxout", params: []any{parent.TxID(), 0}, want: rpcjson.TxOutResult{BestBlock: tipID, Confirmations: 0, Value: 5000, Address: f.otherAddr, PKH: hexOf(other[:])}},
			{name: "gettxout/pool-output-spent-by-child", method: "gettxout", params: []any{parent.TxID(), 1}, check: wantNull},
			{name: "gettxout/pool-output-without-pool", method: "gettxout", params: []any{parent.TxID(), 0, false}, check: wantNull},
			{name: "gettxout/no-such-index", method: "gettxout", params: []any{pay3ID, 7}, check: wantNull},
			{name: "gettxout/index-2^32", method: "gettxout", params: []any{pay3ID, json.RawMessage("4294967296")}, code: rpcjson.CodeInvalidParameter},
			{method: "gettxoutsetinfo", check: func(t *testing.T, raw json.RawMessage) {
				st, err := f.c.UTXOStats()
				if err != nil {
					t.Fatal(err)
				}
				assertJSON(t, raw, rpcjson.TxOutSetInfo{Height: 20, BestBlock: tipID, TxOuts: st.TxOuts, TotalAmount: st.TotalAmount, UTXOHash: st.Hash})
				// Every block added 3 outputs per payment and one coinbase
				// output, and spent one coin per payment.
				if st.TxOuts != 1+20+45*2 {
					t.Fatalf("txouts %d", st.TxOuts)
				}
			}},
		})
	})

	t.Run("light clients", func(t *testing.T) {
		proofOf := func(txid wire.Hash) string {
			var s string
			f.mustCall("gettxoutproof", []any{[]wire.Hash{txid}}, &s)
			return s
		}
		f.run(t, []tcase{
			{method: "getheaders", params: []any{0, 3}, want: []string{hexOf(p.Genesis.Header.Encode()), hexOf(f.blocks[1].Header.Encode()), hexOf(f.blocks[2].Header.Encode())}},
			{name: "getheaders/near-tip", method: "getheaders", params: []any{19, 2000}, want: []string{hexOf(f.blocks[19].Header.Encode()), hexOf(f.blocks[20].Header.Encode())}},
			{name: "getheaders/above-tip", method: "getheaders", params: []any{21, 5}, want: []string{}},
			{name: "getheaders/zero", method: "getheaders", params: []any{0, 0}, want: []string{}},
			{name: "getheaders/2001", method: "getheaders", params: []any{0, 2001}, code: rpcjson.CodeInvalidParameter},
			{name: "getheaders/huge-start", method: "getheaders", params: []any{json.RawMessage("18446744073709551615"), 10}, want: []string{}},
			{method: "gettxoutproof", params: []any{[]wire.Hash{pay3ID}}, check: func(t *testing.T, raw json.RawMessage) {
				var s string
				mustJSON(t, raw, &s)
				b, _ := hex.DecodeString(s)
				pr, err := wire.DecodeTxProof(b)
				if err != nil || pr.Verify() != nil || pr.TxID != pay3ID || pr.Header != f.blocks[3].Header || pr.Proof.Index != 1 || pr.Proof.LeafCount != 3 {
					t.Fatalf("proof %s: %v", s, err)
				}
			}},
			{name: "gettxoutproof/blockhash", method: "gettxoutproof", params: []any{[]wire.Hash{pay3ID}, f.blocks[3].BlockID()}, want: proofOf(pay3ID)},
			{name: "gettxoutproof/wrong-block", method: "gettxoutproof", params: []any{[]wire.Hash{pay3ID}, f.blocks[4].BlockID()}, code: rpcjson.CodeNotFound},
			{name: "gettxoutproof/mempool", method: "gettxoutproof", params: []any{[]wire.Hash{parent.TxID()}}, code: rpcjson.CodeNotFound},
			{name: "gettxoutproof/empty", method: "gettxoutproof", params: []any{[]wire.Hash{}}, code: rpcjson.CodeInvalidParameter},
			{name: "gettxoutproof/two", method: "gettxoutproof", params: []any{[]wire.Hash{pay3ID, pay3ID}}, code: rpcjson.CodeInvalidParameter},
			{name: "gettxoutproof/not-array", method: "gettxoutproof", params: []any{pay3ID}, code: rpcjson.CodeInvalidParams},
			{method: "verifytxoutproof", params: []any{proofOf(pay3ID)}, want: []wire.Hash{pay3ID}},
			{name: "verifytxoutproof/tampered", method: "verifytxoutproof", params: []any{func() string {
				b, _ := hex.DecodeString(proofOf(pay3ID))
				b[len(b)-1] ^= 1
				return hexOf(b)
			}()}, want: []wire.Hash{}},
			{name: "verifytxoutproof/foreign-header", method: "verifytxoutproof", params: []any{func() string {
				// A valid proof whose block is not on our chain.
				b := f.g.Block(testgen.ParentOf(f.blocks[20], 20), []*wire.Tx{f.g.Pay(f.spendable[5:6], 1, 1000)})
				mp, _ := wire.BuildMerkleProof(b.TxIDs(), 1)
				pr := wire.TxProof{Header: b.Header, TxID: b.Txs[1].TxID(), Proof: mp}
				return hexOf(pr.Encode())
			}()}, want: []wire.Hash{}},
			{name: "verifytxoutproof/truncated", method: "verifytxoutproof", params: []any{proofOf(pay3ID)[:100]}, code: rpcjson.CodeDecode},
			{name: "verifytxoutproof/not-hex", method: "verifytxoutproof", params: []any{"xyz"}, code: rpcjson.CodeDecode},
			{method: "getmerkleproof", params: []any{pay3ID}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.MerkleProofResult
				mustJSON(t, raw, &r)
				if r.BlockHeight != 3 || r.BlockHash != f.blocks[3].BlockID() || r.Pos != 1 || r.LeafCount != 3 || r.Confirmations != 18 || len(r.Merkle) != 2 {
					t.Fatalf("%s", raw)
				}
				bi, _ := f.c.BlockInfo(r.BlockHash)
				if r.ChainWork != fmt.Sprintf("%064x", bi.Work) {
					t.Fatal("chainwork")
				}
				pr, err := r.TxProof(pay3ID)
				if err != nil || pr.Verify() != nil {
					t.Fatalf("proof does not verify: %v", err)
				}
			}},
			{name: "getmerkleproof/coinbase", method: "getmerkleproof", params: []any{f.blocks[20].Txs[0].TxID(), tipID}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.MerkleProofResult
				mustJSON(t, raw, &r)
				pr, err := r.TxProof(f.blocks[20].Txs[0].TxID())
				if err != nil || pr.Verify() != nil || r.Pos != 0 || r.LeafCount != 4 || r.Confirmations != 1 {
					t.Fatalf("%s %v", raw, err)
				}
			}},
			{name: "getmerkleproof/unknown", method: "getmerkleproof", params: []any{wire.Hash{3}}, code: rpcjson.CodeNotFound},
		})
	})

	t.Run("transactions", func(t *testing.T) {
		var lowFee, highFee, conflict, missing *wire.Tx
		f.run(t, []tcase{
			{method: "getrawtransaction", params: []any{pay3ID}, want: hexOf(pay3.Encode())},
			{name: "getrawtransaction/verbose", method: "getrawtransaction", params: []any{pay3ID, true}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.TxResult
				mustJSON(t, raw, &r)
				if r.TxID != pay3ID || r.Hash != pay3ID || r.Size != pay3.SerializeSize() || r.Version != 1 || r.Hex != hexOf(pay3.Encode()) ||
					r.BlockHash == nil || *r.BlockHash != f.blocks[3].BlockID() || r.Confirmations == nil || *r.Confirmations != 18 ||
					r.Time != f.blocks[3].Header.Time || r.BlockTime != r.Time || r.InActiveChain != nil || len(r.Vin) != 1 || len(r.Vout) != 3 {
					t.Fatalf("%s", raw)
				}
				in := pay3.Inputs[0]
				if r.Vin[0].TxID != in.Prev.TxID || r.Vin[0].Vout != in.Prev.Index || r.Vin[0].PubKey != hexOf(in.PubKey[:]) || r.Vin[0].Sig != hexOf(in.Sig[:]) {
					t.Fatalf("vin %+v", r.Vin[0])
				}
			}},
			{name: "getrawtransaction/blockhash", method: "getrawtransaction", params: []any{pay3ID, 1, f.blocks[3].BlockID()}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.TxResult
				mustJSON(t, raw, &r)
				if r.InActiveChain == nil || !*r.InActiveChain || *r.Confirmations != 18 {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "getrawtransaction/wrong-block", method: "getrawtransaction", params: []any{pay3ID, false, f.blocks[4].BlockID()}, code: rpcjson.CodeNotFound},
			{name: "getrawtransaction/unknown-block", method: "getrawtransaction", params: []any{pay3ID, false, wire.Hash{5}}, code: rpcjson.CodeNotFound},
			{name: "getrawtransaction/mempool", method: "getrawtransaction", params: []any{child.TxID(), true}, check: func(t *testing.T, raw json.RawMessage) {
				var r map[string]any
				mustJSON(t, raw, &r)
				if r["txid"] != child.TxID().String() || r["blockhash"] != nil || r["confirmations"] != nil {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "getrawtransaction/unknown", method: "getrawtransaction", params: []any{wire.Hash{4}}, code: rpcjson.CodeNotFound},
			{method: "decoderawtransaction", params: []any{hexOf(third.Encode())}, check: func(t *testing.T, raw json.RawMessage) {
				var r map[string]any
				mustJSON(t, raw, &r)
				if r["txid"] != third.TxID().String() || r["blockhash"] != nil || len(r["vout"].([]any)) != 3 || r["extra"] != "" {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "decoderawtransaction/garbage", method: "decoderawtransaction", params: []any{"0100"}, code: rpcjson.CodeDecode},
			{name: "decoderawtransaction/odd-hex", method: "decoderawtransaction", params: []any{"abc"}, code: rpcjson.CodeDecode},
			{name: "decoderawtransaction/number", method: "decoderawtransaction", params: []any{12}, code: rpcjson.CodeInvalidParams},
			{method: "getrawmempool", want: []wire.Hash{parent.TxID(), child.TxID(), third.TxID()}},
			{name: "getrawmempool/verbose", method: "getrawmempool", params: []any{true}, check: func(t *testing.T, raw json.RawMessage) {
				var r map[string]rpcjson.MempoolEntry
				mustJSON(t, raw, &r)
				e := r[child.TxID().String()]
				if len(r) != 3 || e.Fee != 3000 || e.Size != child.SerializeSize() || e.AncestorCount != 2 ||
					!slices.Equal(e.Depends, []wire.Hash{parent.TxID()}) || e.Time != fixtureNow.Unix() || e.Height != 20 {
					t.Fatalf("%s", raw)
				}
				if pe := r[parent.TxID().String()]; !slices.Equal(pe.SpentBy, []wire.Hash{child.TxID()}) || len(pe.Depends) != 0 {
					t.Fatalf("parent %+v", pe)
				}
			}},
			{method: "getmempoolinfo", check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.MempoolInfo
				mustJSON(t, raw, &r)
				want := parent.SerializeSize() + child.SerializeSize() + third.SerializeSize()
				if !r.Loaded || r.Size != 3 || r.Bytes != want || r.MaxMempool != mempool.DefaultMaxBytes || r.MinRelayTxFee != 1 || r.MempoolMinFee != 1 {
					t.Fatalf("%s", raw)
				}
			}},
			{method: "getmempoolentry", params: []any{parent.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.MempoolEntry
				mustJSON(t, raw, &r)
				if r.Fee != 4000 || r.AncestorCount != 1 || r.FeeRate != 4000/float64(parent.SerializeSize()) {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "getmempoolentry/unknown", method: "getmempoolentry", params: []any{pay3ID}, code: rpcjson.CodeNotFound},
			{method: "estimatesmartfee", params: []any{2}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.FeeEstimate
				mustJSON(t, raw, &r)
				rate, ok := f.pool.EstimateFee(2)
				if !ok || r.FeeRate == nil || *r.FeeRate != rate || r.Blocks != 2 || r.Errors != nil {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "estimatesmartfee/clamped", method: "estimatesmartfee", params: []any{5000}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.FeeEstimate
				mustJSON(t, raw, &r)
				if r.Blocks != 1008 {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "estimatesmartfee/zero", method: "estimatesmartfee", params: []any{0}, code: rpcjson.CodeInvalidParameter},
			{name: "estimatesmartfee/mode", method: "estimatesmartfee", params: []any{2, "fast"}, code: rpcjson.CodeInvalidParameter},
			{name: "sendrawtransaction/new", method: "sendrawtransaction", params: []any{func() string { tx := f.pay(2500); return hexOf(tx.Encode()) }()}, check: func(t *testing.T, raw json.RawMessage) {
				var id wire.Hash
				mustJSON(t, raw, &id)
				tx := f.payments[len(f.payments)-1]
				if id != tx.TxID() || !f.pool.Has(id) {
					t.Fatal("not in the pool")
				}
				f.relay.mu.Lock()
				relayed := slices.Contains(f.relay.txs, id)
				f.relay.mu.Unlock()
				if !relayed {
					t.Fatal("not relayed")
				}
				f.poolTxs = append(f.poolTxs, tx)
			}},
			{name: "sendrawtransaction/again", method: "sendrawtransaction", params: []any{hexOf(third.Encode())}, want: third.TxID()},
			{name: "sendrawtransaction/confirmed", method: "sendrawtransaction", params: []any{hexOf(pay3.Encode())}, code: rpcjson.CodeAlreadyInChain},
			{name: "sendrawtransaction/garbage", method: "sendrawtransaction", params: []any{"00112233"}, code: rpcjson.CodeDecode},
			{name: "sendrawtransaction/too-big", method: "sendrawtransaction", params: []any{strings.Repeat("00", p.MaxTxBytes+1)}, code: rpcjson.CodeDecode},
			{name: "sendrawtransaction/conflict", method: "sendrawtransaction", params: []any{func() string {
				op := third.Inputs[0].Prev
				coin, _, _ := f.c.Coin(op)
				conflict = f.g.Pay([]testgen.Spend{{Out: op, Amount: coin.Amount}}, 1, 200) // above the relay minimum, below what replacing third costs
				return hexOf(conflict.Encode())
			}()}, code: rpcjson.CodeVerifyRejected},
			{name: "sendrawtransaction/missing-inputs", method: "sendrawtransaction", params: []any{func() string {
				missing = f.g.Pay([]testgen.Spend{{Out: wire.OutPoint{TxID: wire.Hash{9}}, Amount: 100000}}, 1, 1000)
				return hexOf(missing.Encode())
			}()}, code: rpcjson.CodeVerify},
			{name: "sendrawtransaction/max-fee-exceeded", method: "sendrawtransaction", params: []any{func() string {
				// A confirmed coin, so that the template test sees no
				// dependency.
				i := slices.IndexFunc(f.spendable, func(s testgen.Spend) bool { return !f.pool.Has(s.Out.TxID) })
				s := f.spendable[i]
				f.spendable = slices.Delete(f.spendable, i, i+1)
				// One base unit per byte above the default ceiling.
				highFee = f.g.Pay([]testgen.Spend{s}, 1, 1)
				size := uint64(highFee.SerializeSize())
				highFee = f.g.Pay([]testgen.Spend{s}, 1, (DefaultMaxFeeRate+1)*size)
				return hexOf(highFee.Encode())
			}()}, code: rpcjson.CodeVerify, msg: "max-fee-exceeded"},
			{name: "sendrawtransaction/maxfeerate-above", method: "sendrawtransaction", params: []any{func() string { return hexOf(highFee.Encode()) }(), DefaultMaxFeeRate + 2}, check: func(t *testing.T, raw json.RawMessage) {
				var id wire.Hash
				mustJSON(t, raw, &id)
				if id != highFee.TxID() || !f.pool.Has(id) {
					t.Fatalf("not accepted with a higher maxfeerate: %s", raw)
				}
				f.poolTxs = append(f.poolTxs, highFee)
			}},
			{name: "sendrawtransaction/low-fee", method: "sendrawtransaction", params: []any{func() string {
				s := f.spendable[len(f.spendable)-1]
				f.spendable = f.spendable[:len(f.spendable)-1]
				lowFee = f.g.Pay([]testgen.Spend{s}, 1, 1)
				return hexOf(lowFee.Encode())
			}()}, code: rpcjson.CodeVerifyRejected},
			{method: "gettxstatus", params: []any{parent.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.TxStatus
				mustJSON(t, raw, &r)
				if r.Status != rpcjson.StatusMempool || r.Fee == nil || *r.Fee != 4000 || r.Size != parent.SerializeSize() || r.Time != fixtureNow.Unix() {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "gettxstatus/confirmed", method: "gettxstatus", params: []any{pay3ID}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.TxStatus
				mustJSON(t, raw, &r)
				if r.Status != rpcjson.StatusConfirmed || *r.Height != 3 || *r.BlockHash != f.blocks[3].BlockID() || r.Confirmations != 18 {
					t.Fatalf("%s", raw)
				}
			}},
			{name: "gettxstatus/empty-hash", method: "gettxstatus", params: []any{""}, code: rpcjson.CodeInvalidParameter},
			{name: "gettxstatus/unknown", method: "gettxstatus", params: []any{wire.Hash{6}}, want: rpcjson.TxStatus{TxID: wire.Hash{6}, Status: rpcjson.StatusUnknown}},
		})
		t.Run("gettxstatus/refusals", func(t *testing.T) {
			for _, c := range []struct {
				tx     *wire.Tx
				reason string
			}{{lowFee, "min-relay-fee-not-met"}, {conflict, "insufficient fee"}, {missing, "missing-inputs"}} {
				var r rpcjson.TxStatus
				f.mustCall("gettxstatus", []any{c.tx.TxID()}, &r)
				if r.Status != rpcjson.StatusRefused || !strings.HasPrefix(r.Reason, c.reason) || r.Time != fixtureNow.Unix() {
					t.Fatalf("%s: %+v", c.reason, r)
				}
			}
		})
	})

	t.Run("addresses", func(t *testing.T) {
		// History order: by height, then by txid within a block.
		idsAt := func(h int) []string {
			var out []string
			for _, tx := range f.blocks[h].Txs[1:] {
				out = append(out, tx.TxID().String())
			}
			slices.Sort(out)
			return out
		}
		var ids []string
		for h := 1; h <= 20; h++ {
			ids = append(ids, idsAt(h)...)
		}
		f.run(t, []tcase{
			{method: "getaddressbalance", params: []any{f.otherAddr}, check: func(t *testing.T, raw json.RawMessage) {
				_, in := f.poolPaying(other)
				assertJSON(t, raw, rpcjson.AddressBalance{Balance: 45 * 5000, Received: 45 * 5000, UTXOs: 45, UnconfirmedReceived: in})
			}},
			{name: "getaddressbalance/invalid", method: "getaddressbalance", params: []any{"tly1qqqqqq"}, code: rpcjson.CodeNotFound},
			{name: "getaddressbalance/other-network", method: "getaddressbalance", params: []any{func() string {
				a, _ := wire.EncodeAddress("tly", other)
				return a
			}()}, code: rpcjson.CodeNotFound},
			{method: "getaddressutxos", params: []any{f.otherAddr}, check: func(t *testing.T, raw json.RawMessage) {
				var pg rpcjson.AddressUTXOPage
				mustJSON(t, raw, &pg)
				r := pg.UTXOs
				n, _ := f.poolPaying(other)
				if len(r) != 45+n || pg.Next != nil {
					t.Fatalf("%d utxos, next %v", len(r), pg.Next)
				}
				for _, u := range r[45:] {
					if u.Height != nil || u.Confirmations != 0 || u.Value != 5000 || !f.pool.Has(u.TxID) {
						t.Fatalf("pool entry %+v", u)
					}
				}
				for _, u := range r[:45] {
					if u.Address != f.otherAddr || u.Value != 5000 || u.Vout != 0 || u.Coinbase || u.Height == nil || u.Confirmations != 20-*u.Height+1 || u.SpentBy != nil {
						t.Fatalf("%+v", u)
					}
				}
			}},
			{name: "getaddressutxos/pages", method: "getaddressutxos", params: []any{f.otherAddr}, check: func(t *testing.T, raw json.RawMessage) {
				var all rpcjson.AddressUTXOPage
				mustJSON(t, raw, &all)
				var got []rpcjson.AddressUTXO
				after := ""
				for pages := 0; ; pages++ {
					var pg rpcjson.AddressUTXOPage
					opts := map[string]any{"limit": 7}
					if after != "" {
						opts["after"] = after
					}
					if err := f.call("getaddressutxos", []any{f.otherAddr, opts}, &pg); err != nil || len(pg.UTXOs) > 7 || pages > 10 {
						t.Fatalf("page %d: %v", pages, err)
					}
					got = append(got, pg.UTXOs...)
					if pg.Next == nil {
						break
					}
					after = *pg.Next
				}
				if !reflect.DeepEqual(got, all.UTXOs) {
					t.Fatalf("paged: %d entries, want %d", len(got), len(all.UTXOs))
				}
			}},
			{name: "getaddressutxos/bad-cursor", method: "getaddressutxos", params: []any{f.otherAddr, map[string]any{"after": "x"}}, code: rpcjson.CodeInvalidParameter},
			{name: "getaddressutxos/bad-limit", method: "getaddressutxos", params: []any{f.otherAddr, map[string]any{"limit": 10001}}, code: rpcjson.CodeInvalidParameter},
			{name: "getaddressutxos/spent-by-pool", method: "getaddressutxos", params: []any{f.genAddr}, check: func(t *testing.T, raw json.RawMessage) {
				var pg rpcjson.AddressUTXOPage
				mustJSON(t, raw, &pg)
				r := pg.UTXOs
				found := false
				for _, u := range r {
					if u.TxID == parent.Inputs[0].Prev.TxID && u.Vout == parent.Inputs[0].Prev.Index {
						found = u.SpentBy != nil && *u.SpentBy == parent.TxID()
					}
				}
				if !found {
					t.Fatal("the coin parent spends is not marked")
				}
			}},
			{method: "getaddresstxids", params: []any{f.otherAddr}, check: wantTxIDs(f, ids, true)},
			{name: "getaddresstxids/range", method: "getaddresstxids", params: []any{f.otherAddr, 2, 3}, check: wantTxIDs(f, append(idsAt(2), idsAt(3)...), false)},
			{name: "getaddresstxids/pages", method: "getaddresstxids", params: []any{f.otherAddr, map[string]any{"limit": 4}}, check: func(t *testing.T, raw json.RawMessage) {
				var got []string
				for pages := 0; ; pages++ {
					var pg rpcjson.AddressTxIDPage
					mustJSON(t, raw, &pg)
					for _, e := range pg.TxIDs {
						got = append(got, e.TxID.String())
					}
					if pg.Next == nil || pages > 20 {
						break
					}
					if err := f.call("getaddresstxids", []any{f.otherAddr, map[string]any{"limit": 4, "after": *pg.Next}}, &raw); err != nil {
						t.Fatal(err)
					}
				}
				if n, _ := f.poolPaying(other); len(got) != len(ids)+n || !slices.Equal(got[:len(ids)], ids) {
					t.Fatalf("paged: %v\nwant %v and %d pool txids", got, ids, n)
				}
			}},
			{name: "getaddresshistory", method: "getaddresshistory", params: []any{f.otherAddr}, check: func(t *testing.T, raw json.RawMessage) {
				var pg rpcjson.AddressHistoryPage
				mustJSON(t, raw, &pg)
				n, _ := f.poolPaying(other)
				if len(pg.History) != len(ids)+n || pg.Next != nil {
					t.Fatalf("%d entries", len(pg.History))
				}
				for i, e := range pg.History {
					if e.Received != 5000 || e.Spent != 0 || (e.Height == nil) != (i >= len(ids)) {
						t.Fatalf("%+v", e)
					}
				}
			}},
			{name: "getaddresstxids/named", method: "getaddresstxids", params: nil, code: rpcjson.CodeInvalidParams},
			{method: "validateaddress", params: []any{f.otherAddr}, want: rpcjson.ValidateAddressResult{IsValid: true, Address: f.otherAddr, PKH: hexOf(other[:])}},
			{name: "validateaddress/upper", method: "validateaddress", params: []any{strings.ToUpper(f.otherAddr)}, want: rpcjson.ValidateAddressResult{IsValid: true, Address: f.otherAddr, PKH: hexOf(other[:])}},
			{name: "validateaddress/typo", method: "validateaddress", params: []any{f.otherAddr[:len(f.otherAddr)-1] + "q"}, check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.ValidateAddressResult
				mustJSON(t, raw, &r)
				if r.IsValid || !strings.Contains(r.Error, "probably a typo") || strings.Contains(r.Error, "expected") || r.Address != "" {
					t.Fatalf("%s", raw)
				}
			}},
		})
	})

	t.Run("mining", func(t *testing.T) {
		f.run(t, []tcase{
			{method: "getmininginfo", check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.MiningInfo
				mustJSON(t, raw, &r)
				if r.Blocks != 20 || r.Difficulty != 1 || r.PooledTx != len(f.poolTxs) || r.Chain != "tally-dev" || r.Bits != "207fffff" || r.NetworkHashPS <= 0 {
					t.Fatalf("%s", raw)
				}
			}},
			{method: "getblocktemplate", check: func(t *testing.T, raw json.RawMessage) {
				var r rpcjson.BlockTemplate
				mustJSON(t, raw, &r)
				if r.Height != 21 || r.PreviousBlockHash != tipID || r.Bits != "207fffff" || r.Version != 1 || r.SizeLimit != p.MaxBlockBytes ||
					r.CoinbaseExtra != "1500000000000000" || r.CurTime != uint64(fixtureNow.Unix()) || r.MinTime != medianAt(20)+1 || len(r.Transactions) != len(f.poolTxs) {
					t.Fatalf("%s", raw)
				}
				pos := map[wire.Hash]int{}
				var fees uint64
				for i, tt := range r.Transactions {
					pos[tt.TxID] = i + 1
					fees += tt.Fee
					if tt.TxID == child.TxID() && !slices.Equal(tt.Depends, []int{pos[parent.TxID()]}) {
						t.Fatalf("child depends %v, parent at %d", tt.Depends, pos[parent.TxID()])
					}
					if tt.TxID != child.TxID() && len(tt.Depends) != 0 {
						t.Fatalf("%s depends %v", tt.TxID, tt.Depends)
					}
				}
				if r.CoinbaseValue != consensus.Subsidy(p, 21)+fees {
					t.Fatalf("coinbasevalue %d", r.CoinbaseValue)
				}
			}},
			{name: "getblocktemplate/proposal", method: "getblocktemplate", params: []any{map[string]any{"mode": "proposal"}}, code: rpcjson.CodeInvalidParameter},
		})
		// submitblock: a valid block (it takes the pool's parent and
		// child), then the BIP 22 reasons.
		next := f.g.Block(f.tip(), []*wire.Tx{parent, child})
		var res any
		f.mustCall("submitblock", []any{hexOf(next.Encode())}, &res)
		if res != nil || f.c.Tip().ID != next.BlockID() {
			t.Fatalf("submitblock: %v", res)
		}
		f.blocks = append(f.blocks, next)
		for _, c := range []struct {
			name string
			b    *wire.Block
			want string
		}{
			{"duplicate", next, "duplicate"},
			// A sibling of the tip: stored on a side branch, not connected.
			{"side-branch", f.g.Block(testgen.ParentOf(f.blocks[len(f.blocks)-2], uint64(len(f.blocks)-2)), nil), "inconclusive"},
			{"orphan", f.g.Block(testgen.Parent{ID: wire.Hash{7}, Header: next.Header, Height: 21}, nil), "orphan"},
			{"bad-merkle", f.g.Block(f.tip(), nil, func(b *wire.Block) { b.Header.MerkleRoot = wire.Hash{1} }), "bad-txnmrklroot"},
			{"too-new", f.g.Block(f.tip(), nil, func(b *wire.Block) { b.Header.Time = uint64(fixtureNow.Unix()) + 100000 }), "time-too-new"},
			{"bad-coinbase", f.g.Block(f.tip(), nil, func(b *wire.Block) {
				b.Txs[0].Outputs[0].Amount++
				b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
			}), "bad-cb-amount"},
		} {
			var got any
			f.mustCall("submitblock", []any{hexOf(c.b.Encode())}, &got)
			if got != c.want {
				t.Fatalf("submitblock %s: %v, want %s", c.name, got, c.want)
			}
		}
		if err := f.call("submitblock", []any{"0011"}, nil); rpcCode(err) != rpcjson.CodeDecode {
			t.Fatalf("undecodable block: %v", err)
		}
		f.relay.mu.Lock()
		if !slices.Equal(f.relay.blocks, []wire.Hash{next.BlockID()}) {
			t.Fatalf("relayed blocks %v", f.relay.blocks)
		}
		f.relay.mu.Unlock()
		// The pool forgot the mined transactions; gettxstatus finds them.
		var st rpcjson.TxStatus
		f.mustCall("gettxstatus", []any{child.TxID()}, &st)
		if st.Status != rpcjson.StatusConfirmed || *st.Height != 21 || st.Confirmations != 1 {
			t.Fatalf("child status %+v", st)
		}

		f.run(t, []tcase{
			{method: "generatetoaddress", params: []any{2, f.otherAddr}, check: func(t *testing.T, raw json.RawMessage) {
				var ids []wire.Hash
				mustJSON(t, raw, &ids)
				if len(ids) != 2 || f.c.Tip().ID != ids[1] || f.c.Tip().Height != 23 {
					t.Fatalf("%s", raw)
				}
				b, _ := f.c.Block(ids[0])
				if b.Txs[0].Outputs[0].PKH != other {
					t.Fatal("coinbase does not pay the address")
				}
				for _, id := range ids {
					b, _ := f.c.Block(id)
					f.blocks = append(f.blocks, b)
				}
			}},
			{name: "generatetoaddress/zero", method: "generatetoaddress", params: []any{0, f.otherAddr}, want: []wire.Hash{}},
			{name: "generatetoaddress/too-many", method: "generatetoaddress", params: []any{1001, f.otherAddr}, code: rpcjson.CodeInvalidParameter},
			{name: "generatetoaddress/bad-address", method: "generatetoaddress", params: []any{1, "nope"}, code: rpcjson.CodeNotFound},
		})
	})

	t.Run("node", func(t *testing.T) {
		f.run(t, []tcase{
			{method: "getnetworkinfo", want: rpcjson.NetworkInfo{Version: Version, SubVersion: SubVersion, ProtocolVersion: ProtocolVersion,
				Network: "tally-dev", NetworkID: "7a11de00", NetworkActive: true, Connections: 2, ConnectionsIn: 1, ConnectionsOut: 1,
				RelayFee: 1, LocalAddresses: []string{"/ip4/127.0.0.1/tcp/8646"}}},
			{method: "getpeerinfo", want: f.peers.Info()},
			{method: "getconnectioncount", want: 2},
			{method: "addnode", params: []any{"/ip4/127.0.0.1/tcp/9999/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo", "add"}, check: wantNull},
			{name: "addnode/onetry", method: "addnode", params: []any{"/ip4/127.0.0.1/tcp/9998"}, check: wantNull},
			{name: "addnode/remove", method: "addnode", params: []any{"/ip4/127.0.0.1/tcp/9998", "remove"}, code: rpcjson.CodeInvalidParameter},
			{name: "addnode/fails", method: "addnode", params: []any{"bad"}, code: rpcjson.CodeMisc},
			{method: "uptime", want: 3600},
			{method: "help", check: func(t *testing.T, raw json.RawMessage) {
				var s string
				mustJSON(t, raw, &s)
				listed := map[string]bool{}
				for _, line := range strings.Split(s, "\n") {
					if fs := strings.Fields(line); len(fs) > 0 {
						listed[fs[0]] = true
					}
				}
				for name := range methodTable {
					if !listed[name] {
						t.Fatalf("help lacks %s:\n%s", name, s)
					}
				}
			}},
			{name: "help/getblock", method: "help", params: []any{"getblock"}, check: func(t *testing.T, raw json.RawMessage) {
				var s string
				mustJSON(t, raw, &s)
				if !strings.HasPrefix(s, "getblock blockhash [verbosity]\n") {
					t.Fatalf("%s", s)
				}
			}},
			{name: "help/unknown", method: "help", params: []any{"nosuch"}, want: "help: unknown command: nosuch"},
			{name: "unknown-method", method: "nosuch", code: rpcjson.CodeMethodNotFound},
		})
		f.peers.mu.Lock()
		if len(f.peers.added) != 2 {
			t.Fatalf("addnode calls %v", f.peers.added)
		}
		f.peers.mu.Unlock()
		var s string
		f.mustCall("stop", nil, &s)
		if s != "Tally server stopping" {
			t.Fatal(s)
		}
		select {
		case <-f.stopped:
		case <-time.After(5 * time.Second):
			t.Fatal("stop hook not called")
		}
	})

	calls.mu.Lock()
	defer calls.mu.Unlock()
	for name := range methodTable {
		if calls.n[name] == 0 {
			t.Errorf("method %s was never called", name)
		}
	}
	if calls.n["unknown"] == 0 {
		t.Error("unknown methods are not counted as unknown")
	}
}

func wantNull(t *testing.T, raw json.RawMessage) {
	t.Helper()
	if string(raw) != "null" {
		t.Fatalf("got %s, want null", raw)
	}
}
