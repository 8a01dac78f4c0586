package rpc

import (
	"encoding/hex"
	"encoding/json"
	"tally/rpc/rpcjson"

	"tally/wire"
)

// MaxHeaders bounds getheaders.
const MaxHeaders = 2000

var lightClientMethods = []*method{
	{
		Name: "getheaders", Family: "Light clients", Public: true,
		Params: []param{
			{Name: "start_height", Type: "number", Doc: "height of the first header"},
			{Name: "count", Type: "number", Doc: "number of headers, at most 2000"},
		},
		Summary: "Returns consecutive best-chain headers from a height, fewer near the tip.",
		Result:  "[header hex (88 bytes)]",
		Errors:  []string{"-8 count above 2000 or a height out of range"},
		Handler: getHeaders,
	},
	{
		Name: "gettxoutproof", Family: "Light clients", Public: true,
		Params: []param{
			{Name: "txids", Type: "array", Doc: "one txid (proofs hold exactly one transaction)"},
			{Name: "blockhash", Type: "hash", Optional: true, Doc: "the block holding it; needed without --txindex"},
		},
		Summary: "Returns a proof that a transaction is in a block: header | txid | index u32 | leaf_count u32 | varint n | n sibling hashes (wire.TxProof).",
		Result:  "proof (hex)",
		Errors:  []string{"-5 Transaction not yet in block / not found in the block / no --txindex and no blockhash", "-8 not exactly one txid"},
		Handler: getTxOutProof,
	},
	{
		Name: "verifytxoutproof", Family: "Light clients", Public: true,
		Params:  []param{{Name: "proof", Type: "hex", Doc: "a proof from gettxoutproof"}},
		Summary: "Checks a proof: returns its txid if the Merkle path leads to the header's root and the header is on the best chain, else an empty array.",
		Result:  "[txid] or []",
		Errors:  []string{"-22 the proof does not decode"},
		Handler: verifyTxOutProof,
	},
	{
		Name: "getmerkleproof", Family: "Light clients", Public: true,
		Params: []param{
			{Name: "txid", Type: "hash", Doc: "transaction id"},
			{Name: "blockhash", Type: "hash", Optional: true, Doc: "the block holding it; needed without --txindex"},
		},
		Summary: "Returns a transaction's Merkle proof in the Electrum style, with the raw header and the block's chain work.",
		Result:  "{block_height, blockhash, confirmations, pos, leaf_count, merkle: [sibling hash from the leaf up], header (hex), chainwork}",
		Errors:  []string{"-5 as gettxoutproof"},
		Handler: getMerkleProof,
	},
}

func getHeaders(c *call) (any, error) {
	start, err := c.uint(0, 0, ^uint64(0))
	if err != nil {
		return nil, err
	}
	count, err := c.uint(1, 0, MaxHeaders)
	if err != nil {
		return nil, err
	}
	hs := c.s.deps.Chain.HeadersFrom(start, int(count))
	out := make([]byte, 0, 2+len(hs)*(2*wire.HeaderSize+3))
	out = append(out, '[')
	for i := range hs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = hex.AppendEncode(out, hs[i].Encode())
		out = append(out, '"')
	}
	return encodedResult(append(out, ']')), nil
}

// findTxBlock returns the block holding txid: the given one, or the one
// the transaction index names.
func (c *call) findTxBlock(txid wire.Hash, blockHash wire.Hash, given bool) (*cachedBlock, int, error) {
	s := c.s
	if !given {
		if s.deps.Mempool != nil {
			if _, ok := s.deps.Mempool.Get(txid); ok {
				return nil, 0, rpcErr(rpcjson.CodeNotFound, "Transaction not yet in block")
			}
		}
		if s.deps.TxIndex == nil {
			return nil, 0, rpcErr(rpcjson.CodeNotFound, "Transaction not found: without --txindex, give the hash of the block holding it")
		}
		if !s.deps.TxIndex.Ready() {
			return nil, 0, rpcErr(rpcjson.CodeWarmingUp, "The transaction index is still being built")
		}
		id, _, ok, err := s.deps.TxIndex.Lookup(txid)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return nil, 0, rpcErr(rpcjson.CodeNotFound, "Transaction not found in the block chain")
		}
		blockHash = id
	}
	cb, err := s.block(blockHash)
	if err != nil {
		return nil, 0, err
	}
	pos, ok := cb.position(txid)
	if !ok {
		return nil, 0, rpcErr(rpcjson.CodeNotFound, "Transaction not found in block %s", blockHash)
	}
	return cb, pos, nil
}

func getTxOutProof(c *call) (any, error) {
	list, err := c.array(0)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "txids must hold exactly one txid (got %d): a proof covers one transaction", len(list))
	}
	var txid wire.Hash
	if err := json.Unmarshal(list[0], &txid); err != nil {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "txids[0] must be 64 hex digits")
	}
	bh, given, err := c.optHash(1)
	if err != nil {
		return nil, err
	}
	cb, pos, err := c.findTxBlock(txid, bh, given)
	if err != nil {
		return nil, err
	}
	p := wire.TxProof{Header: cb.block.Header, TxID: txid, Proof: cb.merkleProof(pos)}
	return hex.EncodeToString(p.Encode()), nil
}

func verifyTxOutProof(c *call) (any, error) {
	raw, err := c.hexArg(0, wire.HeaderSize+wire.HashSize+9+wire.MaxMerklePath*wire.HashSize, rpcjson.CodeDecode, "proof")
	if err != nil {
		return nil, err
	}
	p, derr := wire.DecodeTxProof(raw)
	if derr != nil {
		return nil, rpcErr(rpcjson.CodeDecode, "proof decode failed: %v", derr)
	}
	out := []wire.Hash{}
	if p.Verify() != nil {
		return out, nil
	}
	bi, ok := c.s.deps.Chain.BlockInfo(p.Header.BlockID())
	if !ok || !bi.OnMain {
		return out, nil
	}
	return append(out, p.TxID), nil
}

func getMerkleProof(c *call) (any, error) {
	txid, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	bh, given, err := c.optHash(1)
	if err != nil {
		return nil, err
	}
	cb, pos, err := c.findTxBlock(txid, bh, given)
	if err != nil {
		return nil, err
	}
	bi, err := c.s.blockInfo(cb.id)
	if err != nil {
		return nil, err
	}
	mp := cb.merkleProof(pos)
	path := mp.Path
	return rpcjson.MerkleProofResult{
		BlockHeight:   bi.Height,
		BlockHash:     bi.ID,
		Confirmations: c.s.confirmations(&bi),
		Pos:           mp.Index,
		LeafCount:     mp.LeafCount,
		Merkle:        path,
		Header:        hex.EncodeToString(bi.Header.Encode()),
		ChainWork:     workHex(bi.Work),
	}, nil
}
