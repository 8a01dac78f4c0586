package rpc

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"tally/rpc/rpcjson"

	"tally/chain"
	"tally/consensus"
	"tally/wire"
)

// MaxGenerate bounds generatetoaddress.
const MaxGenerate = 1000

var miningMethods = []*method{
	{
		Name: "getmininginfo", Family: "Mining", Public: true,
		Summary: "Returns mining-related figures: height, difficulty, estimated network hash rate over the last 120 blocks, pool size.",
		Result:  "{blocks, bits, difficulty, target, networkhashps, pooledtx, chain, warnings}",
		Handler: getMiningInfo,
	},
	{
		Name: "getblocktemplate", Family: "Mining",
		Params:  []param{{Name: "template_request", Type: "object", Optional: true, Doc: "accepted for compatibility; only the default template mode is supported"}},
		Summary: "Returns a block template for an outside miner: the transactions to include (best fee rates first, parents before children) and the header fields. The miner builds the coinbase: version 1, no inputs, extra starting with coinbaseextra (the height as u64), lock_time 0, outputs summing to at most coinbasevalue.",
		Result:  "{version, previousblockhash, transactions: [{data, txid, hash, fee, size, depends (1-based)}], coinbasevalue, coinbaseextra, bits, target, height, curtime, mintime, sizelimit, mutable, noncerange}",
		Errors:  []string{"-10 the node is still syncing (not on dev networks)", "-8 unsupported template_request mode"},
		Handler: getBlockTemplate,
	},
	{
		Name: "submitblock", Family: "Mining",
		Params: []param{
			{Name: "hexdata", Type: "hex", Doc: "the block's encoding"},
			{Name: "dummy", Type: "string", Optional: true, Doc: "ignored, for compatibility"},
		},
		Summary: "Submits a block. Returns null when it is accepted and fully validated (whether or not it became the tip), inconclusive when it is stored on a side branch without full validation, else a BIP 22 reason: duplicate, duplicate-invalid, orphan (parent unknown), time-too-new (deferred), or the rule broken (bad-txnmrklroot, high-hash, bad-cb-amount, ...).",
		Result:  "null or reason (string)",
		Errors:  []string{"-22 Block decode failed"},
		Handler: submitBlock,
	},
	{
		Name: "generatetoaddress", Family: "Mining",
		Params: []param{
			{Name: "nblocks", Type: "number", Doc: "blocks to mine, at most 1000"},
			{Name: "address", Type: "address", Doc: "address the coinbases pay"},
			{Name: "maxtries", Type: "number", Optional: true, Doc: "ignored, for compatibility"},
		},
		Summary: "Mines blocks on the tip now (dev and test networks only).",
		Result:  "[block hash]",
		Errors:  []string{"-32601 not a dev or test network", "-5 Invalid address", "-8 nblocks out of range", "-1 no miner, or mining stopped early"},
		Handler: generateToAddress,
	},
}

func getMiningInfo(c *call) (any, error) {
	s := c.s
	tip := s.deps.Chain.Tip()
	return rpcjson.MiningInfo{
		Blocks: tip.Height, Bits: bitsHex(tip.Header.Bits), Difficulty: difficulty(s.params, tip.Header.Bits),
		Target: targetHex(tip.Header.Bits), NetworkHashPS: s.networkHashPS(tip, 120),
		PooledTx: s.deps.Mempool.Stats().Count, Chain: s.params.Network,
	}, nil
}

// networkHashPS estimates hashes per second from the work and time of the
// last n blocks.
func (s *Server) networkHashPS(tip *chain.Snapshot, n uint64) float64 {
	if tip.Height == 0 {
		return 0
	}
	n = min(n, tip.Height)
	id, ok := s.deps.Chain.IDAt(tip.Height - n)
	if !ok {
		return 0
	}
	old, ok := s.deps.Chain.BlockInfo(id)
	if !ok || tip.Header.Time <= old.Header.Time {
		return 0
	}
	work := new(big.Float).SetInt(new(big.Int).Sub(tip.Work, old.Work))
	f, _ := work.Quo(work, big.NewFloat(float64(tip.Header.Time-old.Header.Time))).Float64()
	return f
}

func getBlockTemplate(c *call) (any, error) {
	s := c.s
	if c.has(0) {
		var req struct {
			Mode string `json:"mode"`
		}
		raw := c.args[0]
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &req) != nil {
			return nil, c.typeErr(0, "an object")
		}
		if req.Mode != "" && req.Mode != "template" {
			return nil, rpcErr(rpcjson.CodeInvalidParameter, "Invalid mode %q: only \"template\" is supported", req.Mode)
		}
	}
	if !s.cfg.Dev && s.cfg.Synced != nil {
		if ok, why := s.cfg.Synced(); !ok {
			return nil, rpcErr(rpcjson.CodeInitialDownload, "Tally is not synced (%s)", why)
		}
	}
	t := s.deps.Mempool.NewTemplate([20]byte{}, s.now(), 0)
	out := rpcjson.BlockTemplate{
		Version: t.Header.Version, PreviousBlockHash: t.Header.PrevBlock, Transactions: make([]rpcjson.TemplateTx, len(t.Txs)),
		CoinbaseValue: t.CoinbaseValue, CoinbaseExtra: hex.EncodeToString(binary.LittleEndian.AppendUint64(nil, t.Height)),
		Bits: bitsHex(t.Header.Bits), Target: targetHex(t.Header.Bits), Height: t.Height, CurTime: t.Header.Time,
		MinTime: t.MinTime, SizeLimit: t.SizeLimit, Mutable: []string{"time", "transactions", "prevblock"},
		NonceRange: "0000000000000000ffffffffffffffff",
	}
	for i, tt := range t.Txs {
		raw := tt.Tx.Encode()
		deps := make([]int, len(tt.Depends))
		for j, d := range tt.Depends {
			deps[j] = d + 1
		}
		out.Transactions[i] = rpcjson.TemplateTx{Data: hex.EncodeToString(raw), TxID: tt.TxID, Hash: tt.TxID, Fee: tt.Fee, Size: len(raw), Depends: deps}
	}
	return out, nil
}

func submitBlock(c *call) (any, error) {
	s := c.s
	raw, err := c.hexArg(0, s.params.MaxBlockBytes, rpcjson.CodeDecode, "Block")
	if err != nil {
		return nil, err
	}
	b, derr := wire.DecodeBlock(raw)
	if derr != nil {
		return nil, rpcErr(rpcjson.CodeDecode, "Block decode failed: %v", derr)
	}
	// raw is b's canonical encoding (DecodeBlock accepts no other): the
	// chain stores it instead of encoding the block again. submitblock is
	// the operator's own call: the chain stores what it is given.
	res, perr := s.deps.Chain.ProcessBlockRaw(b, raw, chain.Source{Origin: chain.OriginLocal})
	if perr == nil {
		// SPEC section 7, as Core: stored on a side branch without being
		// connected, so not fully validated (and not relayed).
		if res == chain.SideChain {
			if bi, ok := s.deps.Chain.BlockInfo(b.BlockID()); ok && !bi.Valid {
				return "inconclusive", nil
			}
		}
		if s.deps.Relay != nil {
			s.deps.Relay.RelayBlock(b)
		}
		return nil, nil
	}
	// The kind's reason string: duplicate, orphan, time-too-new or the
	// rule broken (BIP 22).
	if reason, _, ok := consensus.Classify(perr); ok {
		return reason, nil
	}
	return nil, perr
}

func generateToAddress(c *call) (any, error) {
	s := c.s
	if !s.cfg.Dev {
		return nil, rpcErr(rpcjson.CodeMethodNotFound, "generatetoaddress is only available on dev and test networks (noded --dev)")
	}
	n, err := c.uint(0, 0, MaxGenerate)
	if err != nil {
		return nil, err
	}
	pkh, _, err := c.address(1)
	if err != nil {
		return nil, err
	}
	if c.has(2) {
		if _, err := c.uint(2, 0, ^uint64(0)); err != nil {
			return nil, err
		}
	}
	if s.deps.Miner == nil {
		return nil, rpcErr(rpcjson.CodeMisc, "no miner is configured")
	}
	ids, err := s.deps.Miner.Generate(c.ctx, int(n), pkh)
	if err != nil {
		return nil, rpcErr(rpcjson.CodeMisc, "mined %d of %d blocks, then: %v", len(ids), n, err)
	}
	if ids == nil {
		ids = []wire.Hash{}
	}
	return ids, nil
}
