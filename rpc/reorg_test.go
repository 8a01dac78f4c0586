package rpc

import (
	"encoding/json"
	"slices"
	"strings"
	"tally/rpc/rpcjson"
	"testing"

	"tally/internal/testgen"
	"tally/wire"
)

// TestReorg follows a reorganization through the RPC:
//
//	... b18 - b19 (Y) - b20 (X)              old branch
//	       \- a19 - a20 (D spends X's coin) - a21     new branch, submitted with submitblock
//	                                            \- b22 (Y, mined by generatetoaddress)
func TestReorg(t *testing.T) {
	f := newFixture(t)
	old19, old20 := f.blocks[19], f.blocks[20]
	x, y := old20.Txs[1], old19.Txs[1]
	var oldProof string
	f.mustCall("gettxoutproof", []any{[]wire.Hash{x.TxID()}}, &oldProof)

	if _, ok, _ := f.c.Coin(x.Inputs[0].Prev); ok {
		t.Fatal("X's input is unspent before the reorg")
	}
	// X's input coin as it was before X spent it.
	var xin testgen.Spend
	for h := 0; h <= 18 && xin.Amount == 0; h++ {
		for _, tx := range f.blocks[h].Txs {
			if tx.TxID() == x.Inputs[0].Prev.TxID {
				xin = testgen.Spend{Out: x.Inputs[0].Prev, Amount: tx.Outputs[x.Inputs[0].Prev.Index].Amount}
			}
		}
	}
	if xin.Amount == 0 {
		t.Fatal("X's input was not created at or below the fork")
	}
	d := f.g.Pay([]testgen.Spend{xin}, 1, 1234)
	a19 := f.g.Block(testgen.ParentOf(f.blocks[18], 18), nil, func(b *wire.Block) { b.Header.Time += 3 })
	a20 := f.g.Block(testgen.ParentOf(a19, 19), []*wire.Tx{d})
	a21 := f.g.Block(testgen.ParentOf(a20, 20), nil)
	// a19 and a20 are stored on a side branch without being connected:
	// "inconclusive" (SPEC section 7); a21 makes the branch heavier and is
	// connected with them.
	for i, b := range []*wire.Block{a19, a20, a21} {
		var want any
		if i < 2 {
			want = "inconclusive"
		}
		var res any = "unset"
		f.mustCall("submitblock", []any{hexOf(b.Encode())}, &res)
		if res != want {
			t.Fatalf("submitblock a%d: %v, want %v", 19+i, res, want)
		}
	}
	if f.c.Tip().ID != a21.BlockID() {
		t.Fatal("no reorganization to a21")
	}

	f.run(t, []tcase{
		{method: "getblockcount", want: 21},
		{method: "getblockhash", params: []any{20}, want: a20.BlockID()},
		{method: "getchaintips", want: []rpcjson.ChainTip{
			{Height: 21, Hash: a21.BlockID(), BranchLen: 0, Status: "active"},
			{Height: 20, Hash: old20.BlockID(), BranchLen: 2, Status: "valid-fork"},
		}},
		{name: "getblock/old20", method: "getblock", params: []any{old20.BlockID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.BlockResult
			mustJSON(t, raw, &r)
			if r.Confirmations != -1 || r.NextBlockHash != nil || r.Height != 20 {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getblockheader/old19", method: "getblockheader", params: []any{old19.BlockID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.BlockHeaderResult
			mustJSON(t, raw, &r)
			if r.Confirmations != -1 || r.NextBlockHash != nil {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getblockheader/fork", method: "getblockheader", params: []any{f.blocks[18].BlockID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.BlockHeaderResult
			mustJSON(t, raw, &r)
			if r.Confirmations != 4 || *r.NextBlockHash != a19.BlockID() {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getrawtransaction/X-old-block", method: "getrawtransaction", params: []any{x.TxID(), true, old20.BlockID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.TxResult
			mustJSON(t, raw, &r)
			if *r.Confirmations != 0 || *r.InActiveChain || *r.BlockHash != old20.BlockID() {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getrawtransaction/X", method: "getrawtransaction", params: []any{x.TxID()}, code: rpcjson.CodeNotFound},
		{name: "gettxstatus/X", method: "gettxstatus", params: []any{x.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.TxStatus
			mustJSON(t, raw, &r)
			if r.Status != rpcjson.StatusConflicted || !strings.Contains(r.Reason, old20.BlockID().String()) {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getrawtransaction/Y-back-in-pool", method: "getrawtransaction", params: []any{y.TxID(), true}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.TxResult
			mustJSON(t, raw, &r)
			if r.BlockHash != nil || r.Confirmations != nil {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "gettxstatus/Y", method: "gettxstatus", params: []any{y.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.TxStatus
			mustJSON(t, raw, &r)
			if r.Status != rpcjson.StatusMempool {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "gettxstatus/D", method: "gettxstatus", params: []any{d.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.TxStatus
			mustJSON(t, raw, &r)
			if r.Status != rpcjson.StatusConfirmed || *r.Height != 20 || r.Confirmations != 2 || *r.BlockHash != a20.BlockID() {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getmerkleproof/Y", method: "getmerkleproof", params: []any{y.TxID()}, code: rpcjson.CodeNotFound},
		{name: "getmerkleproof/D", method: "getmerkleproof", params: []any{d.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.MerkleProofResult
			mustJSON(t, raw, &r)
			if r.BlockHash != a20.BlockID() || r.Confirmations != 2 {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "verifytxoutproof/old", method: "verifytxoutproof", params: []any{oldProof}, want: []wire.Hash{}},
		{name: "getaddresstxids/after-fork", method: "getaddresstxids", params: []any{f.otherAddr, 19}, check: wantTxIDs(f, nil, true)},
		{method: "getaddressbalance", params: []any{f.otherAddr}, check: func(t *testing.T, raw json.RawMessage) {
			_, in := f.poolPaying(other)
			assertJSON(t, raw, rpcjson.AddressBalance{Balance: 39 * 5000, Received: 39 * 5000, UTXOs: 39, UnconfirmedReceived: in})
		}},
		{name: "gettxout/X-input-spent-by-D", method: "gettxout", params: []any{xin.Out.TxID, xin.Out.Index}, check: wantNull},
	})

	// Y, back in the pool, is mined on the new branch.
	var ids []wire.Hash
	f.mustCall("generatetoaddress", []any{1, f.genAddr}, &ids)
	b22, err := f.c.Block(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(b22.Txs, func(tx *wire.Tx) bool { return tx.TxID() == y.TxID() }) {
		t.Fatal("Y not mined")
	}
	var want []string
	for _, tx := range b22.Txs[1:] {
		if slices.ContainsFunc(tx.Outputs, func(o wire.TxOut) bool { return o.PKH == other }) {
			want = append(want, tx.TxID().String())
		}
	}
	slices.Sort(want)
	f.run(t, []tcase{
		{name: "getaddresstxids/after-remine", method: "getaddresstxids", params: []any{f.otherAddr, 19}, check: wantTxIDs(f, want, true)},
		{name: "gettxstatus/Y-mined", method: "gettxstatus", params: []any{y.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.TxStatus
			mustJSON(t, raw, &r)
			if r.Status != rpcjson.StatusConfirmed || *r.Height != 22 || *r.BlockHash != ids[0] || r.Confirmations != 1 {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getrawtransaction/Y-mined", method: "getrawtransaction", params: []any{y.TxID(), true}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.TxResult
			mustJSON(t, raw, &r)
			if *r.BlockHash != ids[0] || *r.Confirmations != 1 {
				t.Fatalf("%s", raw)
			}
		}},
		{name: "getmerkleproof/Y-mined", method: "getmerkleproof", params: []any{y.TxID()}, check: func(t *testing.T, raw json.RawMessage) {
			var r rpcjson.MerkleProofResult
			mustJSON(t, raw, &r)
			p, err := r.TxProof(y.TxID())
			if err != nil || p.Verify() != nil || r.BlockHeight != 22 {
				t.Fatalf("%s %v", raw, err)
			}
		}},
	})
	// The index agrees with a UTXO scan: every unspent output of other.
	var pg rpcjson.AddressUTXOPage
	f.mustCall("getaddressutxos", []any{f.otherAddr}, &pg)
	utxos := pg.UTXOs
	n := 0
	for h := 0; h <= 22; h++ {
		id, _ := f.c.IDAt(uint64(h))
		b, _ := f.c.Block(id)
		for _, tx := range b.Txs {
			for j, o := range tx.Outputs {
				if o.PKH != other {
					continue
				}
				if _, ok, _ := f.c.Coin(wire.OutPoint{TxID: tx.TxID(), Index: uint32(j)}); ok {
					n++
					if !slices.ContainsFunc(utxos, func(u rpcjson.AddressUTXO) bool {
						return u.TxID == tx.TxID() && u.Vout == uint32(j)
					}) {
						t.Fatalf("utxo %s:%d missing from getaddressutxos", tx.TxID(), j)
					}
				}
			}
		}
	}
	if n != len(utxos) {
		t.Fatalf("getaddressutxos: %d entries, the UTXO set holds %d", len(utxos), n)
	}
}
