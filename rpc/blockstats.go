package rpc

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"tally/consensus"
	"tally/rpc/rpcjson"
	"tally/wire"
)

var blockStatsMethods = []*method{
	{
		Name: "getblockstats", Family: "Blockchain", Public: true,
		Params: []param{
			{Name: "hash_or_height", Type: "hash or number", Doc: "the block: its id, or a height on the best chain"},
			{Name: "stats", Type: "array", Optional: true, Doc: "the fields to return (default all)"},
		},
		Summary: "Returns statistics of a connected block, as Bitcoin Core's getblockstats (amounts in base units, fee rates in base units per byte, sizes in bytes; the coinbase is left out of the fee, size and input figures).",
		Result:  "{avgfee, avgfeerate, avgtxsize, blockhash, feerate_percentiles [10th, 25th, 50th, 75th, 90th, weighted by size], height, ins, maxfee, maxfeerate, maxtxsize, medianfee, mediantime, mediantxsize, minfee, minfeerate, mintxsize, outs, subsidy, time, total_out, total_size, totalfee, txs, utxo_increase}",
		Errors:  []string{"-5 Block not found", "-8 Target block height after current tip, or an unknown stat"},
		Handler: getBlockStats,
	},
	{
		Name: "getchaintxstats", Family: "Blockchain", Public: true,
		Params: []param{
			{Name: "nblocks", Type: "number", Optional: true, Default: "one month of blocks", Doc: "size of the window in blocks"},
			{Name: "blockhash", Type: "hash", Optional: true, Default: "the tip", Doc: "the best-chain block that ends the window"},
		},
		Summary: "Returns statistics about the number of transactions in the chain, as Bitcoin Core's getchaintxstats.",
		Result:  "{time, txcount, window_final_block_hash, window_final_block_height, window_block_count, window_tx_count, window_interval, txrate} (the last three only for a window of at least one block)",
		Errors:  []string{"-5 Block not found", "-8 Block is not in main chain, or an invalid window size"},
		Handler: getChainTxStats,
	},
}

// blockStats is getblockstats' result; field meanings follow Core's.
type blockStats struct {
	AvgFee             uint64    `json:"avgfee"`
	AvgFeeRate         uint64    `json:"avgfeerate"`
	AvgTxSize          uint64    `json:"avgtxsize"`
	BlockHash          wire.Hash `json:"blockhash"`
	FeeRatePercentiles [5]uint64 `json:"feerate_percentiles"`
	Height             uint64    `json:"height"`
	Ins                uint64    `json:"ins"`
	MaxFee             uint64    `json:"maxfee"`
	MaxFeeRate         uint64    `json:"maxfeerate"`
	MaxTxSize          uint64    `json:"maxtxsize"`
	MedianFee          uint64    `json:"medianfee"`
	MedianTime         uint64    `json:"mediantime"`
	MedianTxSize       uint64    `json:"mediantxsize"`
	MinFee             uint64    `json:"minfee"`
	MinFeeRate         uint64    `json:"minfeerate"`
	MinTxSize          uint64    `json:"mintxsize"`
	Outs               uint64    `json:"outs"`
	Subsidy            uint64    `json:"subsidy"`
	Time               uint64    `json:"time"`
	TotalOut           uint64    `json:"total_out"`
	TotalSize          uint64    `json:"total_size"`
	TotalFee           uint64    `json:"totalfee"`
	Txs                uint64    `json:"txs"`
	UTXOIncrease       int64     `json:"utxo_increase"`
}

// truncatedMedian is Core's CalculateTruncatedMedian: the middle value,
// or the mean of the two middle ones (rounded down); 0 for none.
func truncatedMedian(v []uint64) uint64 {
	if len(v) == 0 {
		return 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	n := len(v)
	if n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}

// feeRatePercentiles is Core's CalculatePercentilesByWeight with size as
// the weight: the fee rate at which the cumulative size of the
// transactions sorted by fee rate first reaches 10, 25, 50, 75 and 90% of
// the total.
func feeRatePercentiles(rates, sizes []uint64) [5]uint64 {
	var out [5]uint64
	if len(rates) == 0 {
		return out
	}
	idx := make([]int, len(rates))
	var total uint64
	for i := range idx {
		idx[i] = i
		total += sizes[i]
	}
	sort.SliceStable(idx, func(a, b int) bool { return rates[idx[a]] < rates[idx[b]] })
	weights := [5]float64{0.10, 0.25, 0.50, 0.75, 0.90}
	next := 0
	var cum uint64
	for _, i := range idx {
		cum += sizes[i]
		for next < 5 && float64(cum) >= float64(total)*weights[next] {
			out[next] = rates[i]
			next++
		}
	}
	for ; next < 5; next++ {
		out[next] = rates[idx[len(idx)-1]]
	}
	return out
}

// statFields are getblockstats' field names, for the stats filter.
var statFields = func() map[string]bool {
	m := map[string]bool{}
	raw, _ := json.Marshal(blockStats{})
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(raw, &obj)
	for k := range obj {
		m[k] = true
	}
	return m
}()

func getBlockStats(c *call) (any, error) {
	s := c.s
	var id wire.Hash
	if arg := strings.TrimSpace(string(c.args[0])); len(arg) > 0 && arg[0] == '"' {
		h, err := c.hash(0)
		if err != nil {
			return nil, err
		}
		id = h
	} else {
		tip := s.deps.Chain.Tip().Height
		h, err := c.uint(0, 0, ^uint64(0))
		if err != nil {
			return nil, err
		}
		if h > tip {
			return nil, rpcErr(rpcjson.CodeInvalidParameter, "Target block height %d after current tip %d", h, tip)
		}
		var ok bool
		if id, ok = s.deps.Chain.IDAt(h); !ok {
			return nil, rpcErr(rpcjson.CodeInvalidParameter, "Target block height %d after current tip", h)
		}
	}
	var filter []string
	if c.has(1) {
		if err := json.Unmarshal(c.args[1], &filter); err != nil {
			return nil, c.typeErr(1, "an array of strings")
		}
		for _, f := range filter {
			if !statFields[f] {
				return nil, rpcErr(rpcjson.CodeInvalidParameter, "Invalid selected statistic '%.64s'", f)
			}
		}
	}
	bi, err := s.blockInfo(id)
	if err != nil {
		return nil, err
	}
	cb, err := s.block(id)
	if err != nil {
		return nil, err
	}
	prevouts, err := s.blockPrevouts(cb)
	if err != nil {
		return nil, err
	}
	st := blockStats{BlockHash: id, Height: bi.Height, Time: bi.Header.Time, MedianTime: s.medianTime(&bi),
		Subsidy: consensus.Subsidy(s.params, bi.Height), Txs: uint64(len(cb.block.Txs))}
	var fees, sizes, rates []uint64
	for i, tx := range cb.block.Txs {
		st.Outs += uint64(len(tx.Outputs))
		st.UTXOIncrease += int64(len(tx.Outputs))
		if i == 0 {
			continue
		}
		st.Ins += uint64(len(tx.Inputs))
		st.UTXOIncrease -= int64(len(tx.Inputs))
		var in, out uint64
		for _, coin := range prevouts[i] {
			in += coin.Amount
		}
		for _, o := range tx.Outputs {
			out += o.Amount
		}
		st.TotalOut += out
		fee, size := in-out, uint64(tx.SerializeSize())
		rate := fee / size
		st.TotalFee += fee
		st.TotalSize += size
		fees, sizes, rates = append(fees, fee), append(sizes, size), append(rates, rate)
		if i == 1 || fee < st.MinFee {
			st.MinFee = fee
		}
		if i == 1 || rate < st.MinFeeRate {
			st.MinFeeRate = rate
		}
		if i == 1 || size < st.MinTxSize {
			st.MinTxSize = size
		}
		st.MaxFee, st.MaxFeeRate, st.MaxTxSize = max(st.MaxFee, fee), max(st.MaxFeeRate, rate), max(st.MaxTxSize, size)
	}
	if n := uint64(len(fees)); n > 0 {
		st.AvgFee = st.TotalFee / n
		st.AvgTxSize = st.TotalSize / n
		st.AvgFeeRate = st.TotalFee / st.TotalSize
	}
	st.FeeRatePercentiles = feeRatePercentiles(rates, sizes)
	st.MedianFee = truncatedMedian(fees)
	st.MedianTxSize = truncatedMedian(append([]uint64(nil), sizes...))
	if filter == nil {
		return st, nil
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(filter))
	for _, f := range filter {
		out[f] = all[f]
	}
	return out, nil
}

// txCounts caches the cumulative number of transactions of the best
// chain by height (Core keeps nChainTx in its block index; Tally's index
// does not), extended from the stored blocks on demand and cut back at a
// reorganization. Filling it reads each block once.
type txCounts struct {
	mu  sync.Mutex
	ids []wire.Hash // best-chain ids by height, as of the last fill
	cum []uint64    // transactions in blocks 0..h
}

// chainTxCount returns the cumulative transaction count up to height h of the
// best chain.
func (s *Server) chainTxCount(h uint64) (uint64, error) {
	tc := &s.txCounts
	tc.mu.Lock()
	defer tc.mu.Unlock()
	// Cut back to the last height still on the best chain.
	for n := len(tc.ids); n > 0; n-- {
		if id, ok := s.deps.Chain.IDAt(uint64(n - 1)); ok && id == tc.ids[n-1] {
			break
		}
		tc.ids, tc.cum = tc.ids[:n-1], tc.cum[:n-1]
	}
	for uint64(len(tc.ids)) <= h {
		height := uint64(len(tc.ids))
		id, ok := s.deps.Chain.IDAt(height)
		if !ok {
			return 0, rpcErr(rpcjson.CodeInvalidParameter, "Block is not in main chain")
		}
		cb, err := s.block(id)
		if err != nil {
			return 0, err
		}
		prev := uint64(0)
		if height > 0 {
			prev = tc.cum[height-1]
		}
		tc.ids, tc.cum = append(tc.ids, id), append(tc.cum, prev+uint64(len(cb.txids)))
	}
	return tc.cum[h], nil
}

// chainTxStats is getchaintxstats' result.
type chainTxStats struct {
	Time                   uint64    `json:"time"`
	TxCount                uint64    `json:"txcount"`
	WindowFinalBlockHash   wire.Hash `json:"window_final_block_hash"`
	WindowFinalBlockHeight uint64    `json:"window_final_block_height"`
	WindowBlockCount       uint64    `json:"window_block_count"`
	WindowTxCount          *uint64   `json:"window_tx_count,omitempty"`
	WindowInterval         *uint64   `json:"window_interval,omitempty"`
	TxRate                 *float64  `json:"txrate,omitempty"`
}

func getChainTxStats(c *call) (any, error) {
	s := c.s
	id, given, err := c.optHash(1)
	if err != nil {
		return nil, err
	}
	if !given {
		id = s.deps.Chain.Tip().ID
	}
	bi, err := s.blockInfo(id)
	if err != nil {
		return nil, err
	}
	if !bi.OnMain {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "Block is not in main chain")
	}
	// Core's default window: one month of blocks, at most height - 1.
	n := min(uint64(30*24*60*60)/uint64(s.params.TargetSpacing), max(bi.Height, 1)-1)
	if c.has(0) && string(c.args[0]) != "null" {
		if n, err = c.uint(0, 0, ^uint64(0)); err != nil {
			return nil, err
		}
		if n > 0 && n >= bi.Height {
			return nil, rpcErr(rpcjson.CodeInvalidParameter, "Invalid block count: should be between 0 and the block's height - 1")
		}
	}
	total, err := s.chainTxCount(bi.Height)
	if err != nil {
		return nil, err
	}
	r := chainTxStats{Time: bi.Header.Time, TxCount: total, WindowFinalBlockHash: id,
		WindowFinalBlockHeight: bi.Height, WindowBlockCount: n}
	if n > 0 {
		startID, _ := s.deps.Chain.IDAt(bi.Height - n)
		start, err := s.blockInfo(startID)
		if err != nil {
			return nil, err
		}
		before, err := s.chainTxCount(bi.Height - n)
		if err != nil {
			return nil, err
		}
		txs := total - before
		// As Core: the interval between the two blocks' median times.
		interval := uint64(0)
		if end, past := s.medianTime(&bi), s.medianTime(&start); end > past {
			interval = end - past
		}
		r.WindowTxCount, r.WindowInterval = &txs, &interval
		if interval > 0 {
			rate := float64(txs) / float64(interval)
			r.TxRate = &rate
		}
	}
	return r, nil
}
