package rpc

import (
	"encoding/json"
	"testing"

	"tally/chain"
	"tally/internal/testgen"
	"tally/rpc/rpcjson"
	"tally/wire"
)

// statsBlock mines block 21 holding three one-input, three-output
// payments (232 bytes each) paying 1160, 2320 and 4640: fee rates of
// exactly 5, 10 and 20 per byte. It returns the block and the spends.
func (f *fixture) statsBlock(t *testing.T) (*wire.Block, []*wire.Tx, []testgen.Spend) {
	t.Helper()
	spent := append([]testgen.Spend(nil), f.spendable[:3]...)
	txs := []*wire.Tx{f.pay(1160), f.pay(2320), f.pay(4640)}
	for _, tx := range txs {
		if tx.SerializeSize() != 232 {
			t.Fatalf("payment of %d bytes, want 232", tx.SerializeSize())
		}
	}
	return f.addBlock(txs...), txs, spent
}

// coinHeight is the height of the block that created the spend's output.
func (f *fixture) coinHeight(s testgen.Spend) uint64 {
	for h, b := range f.blocks {
		for _, tx := range b.Txs {
			if tx.TxID() == s.Out.TxID {
				return uint64(h)
			}
		}
	}
	f.t.Fatalf("no block created %s", s.Out.TxID)
	return 0
}

// TestGetBlockStats checks every field against values computed by hand
// for statsBlock (Core's definitions: the coinbase is out of the fee,
// size and input figures, in the output count; percentiles weighted by
// size; the median of an even count is the mean of the middle two).
func TestGetBlockStats(t *testing.T) {
	f := newFixture(t)
	b, txs, _ := f.statsBlock(t)
	var totalOut uint64
	for _, tx := range txs {
		for _, o := range tx.Outputs {
			totalOut += o.Amount
		}
	}
	bi, _ := f.c.BlockInfo(b.BlockID())
	want := map[string]any{
		"avgfee":              2706, // 8120 / 3
		"avgfeerate":          11,   // 8120 / 696
		"avgtxsize":           232,
		"blockhash":           b.BlockID().String(),
		"feerate_percentiles": []any{5, 5, 10, 20, 20}, // cumulative sizes reach 33%, 67%, 100%
		"height":              21,
		"ins":                 3,
		"maxfee":              4640,
		"maxfeerate":          20,
		"maxtxsize":           232,
		"medianfee":           2320,
		"mediantime":          f.srv.medianTime(&bi),
		"mediantxsize":        232,
		"minfee":              1160,
		"minfeerate":          5,
		"mintxsize":           232,
		"outs":                10, // the coinbase's and 3 x 3
		"subsidy":             f.p.InitialSubsidy,
		"time":                b.Header.Time,
		"total_out":           totalOut,
		"total_size":          696,
		"totalfee":            8120,
		"txs":                 4,
		"utxo_increase":       7, // 10 outputs created, 3 spent
	}
	for _, arg := range []any{21, b.BlockID().String()} {
		var got json.RawMessage
		f.mustCall("getblockstats", []any{arg}, &got)
		assertJSON(t, got, want)
	}
	// The stats filter returns only the named fields.
	var some json.RawMessage
	f.mustCall("getblockstats", []any{21, []string{"totalfee", "txs"}}, &some)
	assertJSON(t, some, map[string]any{"totalfee": 8120, "txs": 4})
	// The genesis block (no undo data) and a block of the coinbase alone:
	// zero fees, as Core.
	var g json.RawMessage
	f.mustCall("getblockstats", []any{0, []string{"txs", "ins", "totalfee", "subsidy"}}, &g)
	assertJSON(t, g, map[string]any{"txs": 1, "ins": 0, "totalfee": 0, "subsidy": f.p.InitialSubsidy})
	empty := f.addBlock()
	var e json.RawMessage
	f.mustCall("getblockstats", []any{empty.BlockID().String(), []string{"avgfee", "avgfeerate", "feerate_percentiles", "ins", "outs", "txs", "minfee", "utxo_increase"}}, &e)
	assertJSON(t, e, map[string]any{"avgfee": 0, "avgfeerate": 0, "feerate_percentiles": []any{0, 0, 0, 0, 0},
		"ins": 0, "outs": 1, "txs": 1, "minfee": 0, "utxo_increase": 1})
}

// TestPercentilesAndMedian: the weighting and the even median on uneven
// sizes.
func TestPercentilesAndMedian(t *testing.T) {
	// Sizes 100, 300, 600 at rates 30, 10, 20: sorted by rate the
	// cumulative sizes are 300 (30%), 900 (90%), 1000.
	got := feeRatePercentiles([]uint64{30, 10, 20}, []uint64{100, 300, 600})
	if got != [5]uint64{10, 10, 20, 20, 20} {
		t.Fatalf("percentiles %v", got)
	}
	if m := truncatedMedian([]uint64{7, 1, 4, 10}); m != 5 {
		t.Fatalf("median %d, want (4+7)/2 = 5", m)
	}
}

// TestPrevoutsAndFees: getblock verbosity 3 and getrawtransaction
// verbosity 2 give each input the output it spent (value, address, the
// creating block's height, generated) and each transaction its fee; a pool
// transaction spending a pool parent has a prevout without height.
func TestPrevoutsAndFees(t *testing.T) {
	f := newFixture(t)
	b, txs, spent := f.statsBlock(t)
	fees := []uint64{1160, 2320, 4640}
	var blk struct {
		Tx []rpcjson.TxResult `json:"tx"`
	}
	f.mustCall("getblock", []any{b.BlockID().String(), 3}, &blk)
	if len(blk.Tx) != 4 || blk.Tx[0].Fee != nil || len(blk.Tx[0].Vin) != 0 {
		t.Fatalf("coinbase %+v", blk.Tx[0])
	}
	checkTx := func(r rpcjson.TxResult, i int) {
		t.Helper()
		if r.Fee == nil || *r.Fee != fees[i] || len(r.Vin) != 1 || r.Vin[0].Prevout == nil {
			t.Fatalf("tx %d: %+v", i, r)
		}
		p := r.Vin[0].Prevout
		h := f.coinHeight(spent[i])
		if p.Value != spent[i].Amount || p.Address != f.genAddr || p.Height == nil || *p.Height != h || p.Generated {
			t.Fatalf("tx %d prevout %+v, want %d at height %d to %s", i, p, spent[i].Amount, h, f.genAddr)
		}
	}
	for i := range txs {
		checkTx(blk.Tx[i+1], i)
	}
	for i, tx := range txs {
		var r rpcjson.TxResult
		f.mustCall("getrawtransaction", []any{tx.TxID().String(), 2}, &r)
		checkTx(r, i)
		f.mustCall("getrawtransaction", []any{tx.TxID().String(), 2, b.BlockID().String()}, &r)
		checkTx(r, i)
	}
	// A coinbase output spent: generated is true.
	cbSpend := testgen.Outputs(f.blocks[1].Txs[0])[0]
	f.clock.Set(fixtureNow)
	spendCB := f.g.Pay([]testgen.Spend{cbSpend}, 1, 500)
	cbBlock := f.addBlock(spendCB)
	var r rpcjson.TxResult
	f.mustCall("getrawtransaction", []any{spendCB.TxID().String(), 2, cbBlock.BlockID().String()}, &r)
	if p := r.Vin[0].Prevout; p == nil || !p.Generated || *p.Height != 1 || p.Value != cbSpend.Amount || *r.Fee != 500 {
		t.Fatalf("coinbase prevout %+v fee %v", p, r.Fee)
	}
	// The pool: the fixture's child spends its pool parent.
	parent, child := f.poolTxs[0], f.poolTxs[1]
	f.mustCall("getrawtransaction", []any{child.TxID().String(), 2}, &r)
	po := parent.Outputs[child.Inputs[0].Prev.Index]
	if p := r.Vin[0].Prevout; p == nil || p.Height != nil || p.Value != po.Amount || r.Fee == nil || *r.Fee != 3000 {
		t.Fatalf("pool child: prevout %+v fee %v", r.Vin[0].Prevout, r.Fee)
	}
	f.mustCall("getrawtransaction", []any{parent.TxID().String(), 2}, &r)
	if p := r.Vin[0].Prevout; p == nil || p.Height == nil || r.Fee == nil || *r.Fee != 4000 {
		t.Fatalf("pool parent: prevout %+v fee %v", r.Vin[0].Prevout, r.Fee)
	}
	// A side-branch block never connected has no undo data.
	side := f.g.Block(testgen.ParentOf(f.blocks[19], 19), []*wire.Tx{f.g.Pay(testgen.Outputs(f.blocks[2].Txs[0]), 1, 100)})
	if res, err := f.c.ProcessBlock(side); err != nil || res != chain.SideChain {
		t.Fatalf("side block: %v %v", res, err)
	}
	if err := f.call("getblock", []any{side.BlockID().String(), 3}, nil); rpcCode(err) != rpcjson.CodeNotFound {
		t.Fatalf("getblock 3 of a side block: %v", err)
	}
}

// TestGetChainTxStats against counts by hand: the genesis block has one
// transaction, blocks 1-15 three, blocks 16-20 four (66 in all).
func TestGetChainTxStats(t *testing.T) {
	f := newFixture(t)
	mtp := func(h int) uint64 {
		bi, _ := f.c.BlockInfo(f.blocks[h].BlockID())
		return f.srv.medianTime(&bi)
	}
	var r chainTxStats
	f.mustCall("getchaintxstats", nil, &r)
	if r.TxCount != 66 || r.WindowFinalBlockHeight != 20 || r.WindowFinalBlockHash != f.blocks[20].BlockID() ||
		r.Time != f.blocks[20].Header.Time || r.WindowBlockCount != 19 || *r.WindowTxCount != 62 ||
		*r.WindowInterval != mtp(20)-mtp(1) || *r.TxRate != 62/float64(mtp(20)-mtp(1)) {
		t.Fatalf("default window: %+v", r)
	}
	f.mustCall("getchaintxstats", []any{5, f.blocks[10].BlockID().String()}, &r)
	if r.TxCount != 31 || r.WindowBlockCount != 5 || *r.WindowTxCount != 15 || *r.WindowInterval != mtp(10)-mtp(5) {
		t.Fatalf("5 blocks to 10: %+v", r)
	}
	r = chainTxStats{}
	f.mustCall("getchaintxstats", []any{0}, &r)
	if r.TxCount != 66 || r.WindowBlockCount != 0 || r.WindowTxCount != nil || r.TxRate != nil {
		t.Fatalf("empty window: %+v", r)
	}
	// A reorganization replaces block 20 (four transactions) with two
	// empty blocks: the counts follow the new chain.
	s20 := f.g.Block(testgen.ParentOf(f.blocks[19], 19), nil)
	s21 := f.g.Block(testgen.ParentOf(s20, 20), nil)
	for _, b := range []*wire.Block{s20, s21} {
		if _, err := f.c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	f.mustCall("getchaintxstats", []any{0}, &r)
	if r.TxCount != 64 || r.WindowFinalBlockHeight != 21 {
		t.Fatalf("after the reorg: %+v", r)
	}
	if err := f.call("getchaintxstats", []any{1, f.blocks[20].BlockID().String()}, nil); rpcCode(err) != rpcjson.CodeInvalidParameter {
		t.Fatalf("window ending off the best chain: %v", err)
	}
}
