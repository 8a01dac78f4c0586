package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"tally/rpc/rpcjson"

	"tally/chain"
	"tally/consensus"
	"tally/wire"
)

var blockchainMethods = []*method{
	{
		Name: "getblockchaininfo", Family: "Blockchain", Public: true,
		Summary: "Returns the state of the best chain.",
		Result:  "{chain, blocks, headers, bestblockhash, bits, target, difficulty, time, mediantime, verificationprogress, initialblockdownload, chainwork, pruned, pruneheight, txindex, addrindex, assumevalid, assumevalid_in_force, warnings}",
		Handler: getBlockchainInfo,
	},
	{
		Name: "getblockcount", Family: "Blockchain", Public: true,
		Summary: "Returns the height of the best chain's tip.",
		Result:  "height (number)",
		Handler: func(c *call) (any, error) { return c.s.deps.Chain.Tip().Height, nil },
	},
	{
		Name: "getbestblockhash", Family: "Blockchain", Public: true,
		Summary: "Returns the id of the best chain's tip.",
		Result:  "block hash (hex)",
		Handler: func(c *call) (any, error) { return c.s.deps.Chain.Tip().ID, nil },
	},
	{
		Name: "getblockhash", Family: "Blockchain", Public: true,
		Params:  []param{{Name: "height", Type: "number", Doc: "height on the best chain"}},
		Summary: "Returns the id of the best-chain block at a height.",
		Result:  "block hash (hex)",
		Errors:  []string{"-8 Block height out of range"},
		Handler: getBlockHash,
	},
	{
		Name: "getblock", Family: "Blockchain", Public: true,
		Params: []param{
			{Name: "blockhash", Type: "hash", Doc: "block id"},
			{Name: "verbosity", Type: "number", Optional: true, Default: "1", Doc: "0: hex encoding; 1: object with txids; 2: object with decoded transactions; 3: as 2, with each input's prevout and each transaction's fee (true/false mean 1/0)"},
		},
		Summary: "Returns a stored block, on the best chain or not.",
		Result:  "hex (verbosity 0), or {hash, confirmations (-1 off the best chain), size, height, version, merkleroot, tx, time, mediantime, nonce, bits, target, difficulty, chainwork, nTx, previousblockhash, nextblockhash}; with verbosity 3 each input has prevout {value, address, height, generated} and each transaction but the coinbase a fee, from the block's undo data (only for best-chain blocks: -5 otherwise)",
		Errors:  []string{"-5 Block not found"},
		Handler: getBlock,
	},
	{
		Name: "getblockheader", Family: "Blockchain", Public: true,
		Params: []param{
			{Name: "blockhash", Type: "hash", Doc: "block id"},
			{Name: "verbose", Type: "boolean", Optional: true, Default: "true", Doc: "false: the 88-byte header as hex"},
		},
		Summary: "Returns a block header.",
		Result:  "hex (verbose false), or {hash, confirmations, height, version, merkleroot, time, mediantime, nonce, bits, target, difficulty, chainwork, nTx, previousblockhash, nextblockhash}",
		Errors:  []string{"-5 Block not found"},
		Handler: getBlockHeader,
	},
	{
		Name: "getchaintips", Family: "Blockchain", Public: true,
		Summary: "Returns every block without children and the active tip, highest first.",
		Result:  "[{height, hash, branchlen, status}] with status active, valid-fork, valid-headers or invalid",
		Handler: getChainTips,
	},
	{
		Name: "getdifficulty", Family: "Blockchain", Public: true,
		Summary: "Returns the tip's difficulty: the pow limit's target divided by the tip's target.",
		Result:  "difficulty (number)",
		Handler: func(c *call) (any, error) { return difficulty(c.s.params, c.s.deps.Chain.Tip().Header.Bits), nil },
	},
	{
		Name: "gettxout", Family: "Blockchain", Public: true,
		Params: []param{
			{Name: "txid", Type: "hash", Doc: "transaction id"},
			{Name: "n", Type: "number", Doc: "output index"},
			{Name: "include_mempool", Type: "boolean", Optional: true, Default: "true", Doc: "count pool transactions: their outputs exist, the outputs they spend do not"},
		},
		Summary: "Returns an unspent transaction output, or null if it is spent or never existed.",
		Result:  "null, or {bestblock, confirmations, value, address, pkh, coinbase}",
		Handler: getTxOut,
	},
	{
		Name: "gettxoutsetinfo", Family: "Blockchain",
		Summary: "Returns statistics of the UTXO set and its hash (SPEC section 7), after flushing the UTXO cache. Scans the whole set.",
		Result:  "{height, bestblock, txouts, total_amount, utxo_hash}",
		Handler: getTxOutSetInfo,
	},
}

// bitsHex formats compact bits as 8 hex digits.
func bitsHex(bits uint32) string { return fmt.Sprintf("%08x", bits) }

// targetHex formats the target of bits as 64 hex digits.
func targetHex(bits uint32) string {
	t := consensus.CompactToBig(bits)
	if t.Sign() < 0 {
		t = new(big.Int)
	}
	return fmt.Sprintf("%064x", t)
}

// workHex formats cumulative work as 64 hex digits, as Core does.
func workHex(w *big.Int) string {
	var b [32]byte
	if w.Sign() < 0 || w.BitLen() > 256 {
		return fmt.Sprintf("%064x", w)
	}
	return hex.EncodeToString(w.FillBytes(b[:]))
}

// difficulty is the pow limit's target divided by the target of bits.
func difficulty(p *consensus.Params, bits uint32) float64 {
	t := consensus.CompactToBig(bits)
	if t.Sign() <= 0 || p.PowLimit == nil {
		return 0
	}
	q := new(big.Float).Quo(new(big.Float).SetInt(p.PowLimit), new(big.Float).SetInt(t))
	f, _ := q.Float64()
	return f
}

// confirmations is 1 for the tip, more below it, -1 off the best chain.
func (s *Server) confirmations(bi *chain.BlockInfo) int64 {
	tip := s.deps.Chain.Tip()
	if !bi.OnMain || tip.Height < bi.Height {
		return -1
	}
	return int64(tip.Height-bi.Height) + 1
}

// medianTime is the median time past of the 11 blocks ending at bi.
func (s *Server) medianTime(bi *chain.BlockInfo) uint64 {
	times := make([]uint64, 0, 11)
	cur := *bi
	for len(times) < 11 {
		times = append(times, cur.Header.Time)
		if cur.Height == 0 {
			break
		}
		next, ok := s.deps.Chain.BlockInfo(cur.Header.PrevBlock)
		if !ok {
			break
		}
		cur = next
	}
	return consensus.MedianTime(times)
}

// blockInfo returns the index entry of a block with stored data.
func (s *Server) blockInfo(id wire.Hash) (chain.BlockInfo, error) {
	bi, ok := s.deps.Chain.BlockInfo(id)
	if !ok {
		return bi, rpcErr(rpcjson.CodeNotFound, "Block not found")
	}
	return bi, nil
}

func getBlockchainInfo(c *call) (any, error) {
	s := c.s
	tip := s.deps.Chain.Tip()
	synced := true
	if s.cfg.Synced != nil {
		synced, _ = s.cfg.Synced()
	}
	progress := 1.0
	if !synced {
		now := uint64(max(s.now().Unix(), 0))
		if g := s.params.GenesisTime; now > g && tip.Header.Time > g {
			progress = min(1, float64(tip.Header.Time-g)/float64(now-g))
		} else {
			progress = 0
		}
	}
	var pruneHeight *uint64
	h, pruned := s.deps.Chain.PruneHeight()
	if pruned {
		pruneHeight = &h
	}
	av := s.deps.Chain.AssumeValid()
	avID := ""
	if !av.ID.IsZero() {
		avID = av.ID.String()
	}
	return rpcjson.BlockchainInfo{
		AssumeValid:          avID,
		AssumeValidInForce:   av.InForce,
		Chain:                s.params.Network,
		Blocks:               tip.Height,
		Headers:              s.headersHeight(),
		BestBlockHash:        tip.ID,
		Bits:                 bitsHex(tip.Header.Bits),
		Target:               targetHex(tip.Header.Bits),
		Difficulty:           difficulty(s.params, tip.Header.Bits),
		Time:                 tip.Header.Time,
		MedianTime:           tip.MedianTime,
		VerificationProgress: progress,
		InitialBlockDownload: !synced,
		ChainWork:            workHex(tip.Work),
		Pruned:               pruned,
		PruneHeight:          pruneHeight,
		TxIndex:              s.deps.TxIndex != nil,
		AddrIndex:            s.deps.AddrIndex != nil,
	}, nil
}

func getBlockHash(c *call) (any, error) {
	h, err := c.uint(0, 0, ^uint64(0))
	if err != nil {
		if rpcCode(err) == rpcjson.CodeInvalidParameter {
			return nil, rpcErr(rpcjson.CodeInvalidParameter, "Block height out of range")
		}
		return nil, err
	}
	id, ok := c.s.deps.Chain.IDAt(h)
	if !ok {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "Block height out of range")
	}
	return id, nil
}

func (s *Server) headerResult(bi *chain.BlockInfo, ntx int) rpcjson.BlockHeaderResult {
	r := rpcjson.BlockHeaderResult{
		Hash:          bi.ID,
		Confirmations: s.confirmations(bi),
		Height:        bi.Height,
		Version:       bi.Header.Version,
		MerkleRoot:    bi.Header.MerkleRoot,
		Time:          bi.Header.Time,
		MedianTime:    s.medianTime(bi),
		Nonce:         bi.Header.Nonce,
		Bits:          bitsHex(bi.Header.Bits),
		Target:        targetHex(bi.Header.Bits),
		Difficulty:    difficulty(s.params, bi.Header.Bits),
		ChainWork:     workHex(bi.Work),
		NTx:           ntx,
	}
	if bi.Height > 0 {
		prev := bi.Header.PrevBlock
		r.PreviousBlockHash = &prev
	}
	if bi.OnMain && !bi.Next.IsZero() {
		next := bi.Next
		r.NextBlockHash = &next
	}
	return r
}

func getBlock(c *call) (any, error) {
	id, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	verbosity, err := c.verbosity(1, 1, 3)
	if err != nil {
		return nil, err
	}
	cb, err := c.s.block(id)
	if err != nil {
		return nil, err
	}
	if verbosity == 0 {
		return hexString(cb.raw), nil
	}
	// A verbosity 1 result depends only on the block and the tip (its
	// confirmations and nextblockhash), so it is kept while the tip
	// stays: stored only when the tip did not move while it was built.
	tip := c.s.deps.Chain.Tip().ID
	if verbosity == 1 {
		if e := cb.verbose1.Load(); e != nil && e.tip == tip {
			return e.enc, nil
		}
	}
	bi, err := c.s.blockInfo(id)
	if err != nil {
		return nil, err
	}
	h := c.s.headerResult(&bi, len(cb.txids))
	r := rpcjson.BlockResult{
		Hash: h.Hash, Confirmations: h.Confirmations, Size: len(cb.raw), Height: h.Height,
		Version: h.Version, MerkleRoot: h.MerkleRoot, Time: h.Time, MedianTime: h.MedianTime,
		Nonce: h.Nonce, Bits: h.Bits, Target: h.Target, Difficulty: h.Difficulty, ChainWork: h.ChainWork,
		NTx: h.NTx, PreviousBlockHash: h.PreviousBlockHash, NextBlockHash: h.NextBlockHash,
	}
	if verbosity == 1 {
		r.Tx = cb.txids
		enc, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if c.s.deps.Chain.Tip().ID == tip {
			cb.verbose1.Store(&encodedAt{tip: tip, enc: enc})
		}
		return encodedResult(enc), nil
	}
	var prevouts [][]wire.Coin
	if verbosity == 3 {
		if prevouts, err = c.s.blockPrevouts(cb); err != nil {
			return nil, err
		}
	}
	txs := make([]rpcjson.TxResult, len(cb.block.Txs))
	for i, tx := range cb.block.Txs {
		txs[i] = c.s.txResult(tx, cb.txids[i])
		if prevouts != nil && i > 0 {
			c.s.withPrevouts(&txs[i], tx, prevouts[i], nil)
		}
	}
	r.Tx = txs
	return r, nil
}

// blockPrevouts returns, for each transaction of a connected block, the
// coins its inputs spent (none for the coinbase), from the undo data.
func (s *Server) blockPrevouts(cb *cachedBlock) ([][]wire.Coin, error) {
	out := make([][]wire.Coin, len(cb.block.Txs))
	if len(cb.block.Txs) == 1 {
		return out, nil // the coinbase alone (the genesis block has no undo data)
	}
	spent, err := s.deps.Chain.SpentCoins(cb.id)
	if errors.Is(err, chain.ErrNotFound) {
		return nil, rpcErr(rpcjson.CodeNotFound, "Undo data not available: the block %s is not on the best chain", cb.id)
	}
	if errors.Is(err, chain.ErrPruned) {
		return nil, rpcErr(rpcjson.CodeMisc, "Undo data not available (pruned data)")
	}
	if err != nil {
		return nil, err
	}
	for i, tx := range cb.block.Txs[1:] {
		n := len(tx.Inputs)
		if n > len(spent) {
			return nil, fmt.Errorf("undo data of %s holds fewer coins than the block's inputs", cb.id)
		}
		out[i+1], spent = spent[:n], spent[n:]
	}
	if len(spent) != 0 {
		return nil, fmt.Errorf("undo data of %s holds more coins than the block's inputs", cb.id)
	}
	return out, nil
}

// withPrevouts adds each input's prevout and the fee to r. coins are the
// spent outputs in input order; a coin whose transaction is in the pool
// has unconfirmed[i] set and no height.
func (s *Server) withPrevouts(r *rpcjson.TxResult, tx *wire.Tx, coins []wire.Coin, unconfirmed []bool) {
	var in uint64
	for i, c := range coins {
		p := &rpcjson.Prevout{Value: c.Amount, Address: s.address(c.PKH), Generated: c.Coinbase}
		if unconfirmed == nil || !unconfirmed[i] {
			h := c.Height
			p.Height = &h
		}
		r.Vin[i].Prevout = p
		in += c.Amount
	}
	var out uint64
	for _, o := range tx.Outputs {
		out += o.Amount
	}
	fee := in - out // the rules guarantee in >= out for a valid transaction
	r.Fee = &fee
}

func getBlockHeader(c *call) (any, error) {
	id, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	verbose, err := c.optBool(1, true)
	if err != nil {
		return nil, err
	}
	bi, err := c.s.blockInfo(id)
	if err != nil {
		return nil, err
	}
	if !verbose {
		return hex.EncodeToString(bi.Header.Encode()), nil
	}
	ntx := 0
	if cb, err := c.s.block(id); err == nil {
		ntx = len(cb.txids)
	}
	return c.s.headerResult(&bi, ntx), nil
}

func getChainTips(c *call) (any, error) {
	tips := c.s.deps.Chain.ChainTips()
	out := make([]rpcjson.ChainTip, len(tips))
	for i, t := range tips {
		out[i] = rpcjson.ChainTip{Height: t.Height, Hash: t.ID, BranchLen: t.BranchLen, Status: t.Status}
	}
	// Highest first; the active tip first among equals; then by hash.
	sortTips(out)
	return out, nil
}

func sortTips(t []rpcjson.ChainTip) {
	sort.Slice(t, func(i, j int) bool {
		a, b := t[i], t[j]
		if a.Height != b.Height {
			return a.Height > b.Height
		}
		if (a.Status == "active") != (b.Status == "active") {
			return a.Status == "active"
		}
		return bytes.Compare(a.Hash[:], b.Hash[:]) < 0
	})
}

func getTxOut(c *call) (any, error) {
	txid, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	n, err := c.uint(1, 0, 1<<32-1)
	if err != nil {
		return nil, err
	}
	withPool, err := c.optBool(2, true)
	if err != nil {
		return nil, err
	}
	s := c.s
	op := wire.OutPoint{TxID: txid, Index: uint32(n)}
	tip := s.deps.Chain.Tip()
	coin, ok, err := s.deps.Chain.Coin(op)
	if err != nil {
		return nil, err
	}
	if ok {
		if withPool {
			if _, spent := s.deps.Mempool.Spender(op); spent {
				return nil, nil
			}
		}
		conf := uint64(0)
		if tip.Height >= coin.Height {
			conf = tip.Height - coin.Height + 1
		}
		return s.txOutResult(tip.ID, conf, coin.Amount, coin.PKH, coin.Coinbase), nil
	}
	if !withPool {
		return nil, nil
	}
	e, ok := s.deps.Mempool.Get(txid)
	if !ok || int(n) >= len(e.Tx.Outputs) {
		return nil, nil
	}
	if _, spent := s.deps.Mempool.Spender(op); spent {
		return nil, nil
	}
	o := e.Tx.Outputs[n]
	return s.txOutResult(tip.ID, 0, o.Amount, o.PKH, false), nil
}

func (s *Server) address(pkh [20]byte) string {
	a, err := wire.EncodeAddress(s.params.AddressPrefix, pkh)
	if err != nil {
		return ""
	}
	return a
}

func (s *Server) txOutResult(best wire.Hash, conf uint64, amount uint64, pkh [20]byte, coinbase bool) rpcjson.TxOutResult {
	return rpcjson.TxOutResult{BestBlock: best, Confirmations: conf, Value: amount, Address: s.address(pkh), PKH: hex.EncodeToString(pkh[:]), Coinbase: coinbase}
}

func getTxOutSetInfo(c *call) (any, error) {
	st, err := c.s.deps.Chain.UTXOStats()
	if err != nil {
		return nil, err
	}
	return rpcjson.TxOutSetInfo{Height: st.Height, BestBlock: st.BestBlock, TxOuts: st.TxOuts, TotalAmount: st.TotalAmount, UTXOHash: st.Hash}, nil
}
