package rpc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/bits"
	"sort"
	"tally/rpc/rpcjson"

	"tally/mempool"
	"tally/wire"
)

var rawTxMethods = []*method{
	{
		Name: "getrawtransaction", Family: "Transactions", Public: true,
		Params: []param{
			{Name: "txid", Type: "hash", Doc: "transaction id"},
			{Name: "verbosity", Type: "number", Optional: true, Default: "0", Doc: "0: hex; 1: a decoded object; 2: as 1, with each input's prevout and the fee (true/false mean 1/0)"},
			{Name: "blockhash", Type: "hash", Optional: true, Doc: "look in this block only"},
		},
		Summary: "Returns a transaction from the pool, the given block, or (with --txindex) any best-chain block.",
		Result:  "hex, or {txid, hash, size, version, locktime, coinbase, vin: [{txid, vout, pubkey, sig, address}], vout: [{value, n, address, pkh}], extra, hex, blockhash, confirmations, in_active_chain (with blockhash), time, blocktime}; confirmations is 0 for a block off the best chain; verbosity 2 adds prevout {value, address, height (null for a pool parent), generated} to each input and fee, as Core 25",
		Errors:  []string{"-5 No such transaction (with a hint about --txindex)", "-28 the transaction index is still being built"},
		Handler: getRawTransaction,
	},
	{
		Name: "sendrawtransaction", Family: "Transactions",
		Params: []param{
			{Name: "hexstring", Type: "hex", Doc: "the signed transaction's encoding"},
			{Name: "maxfeerate", Type: "number", Optional: true, Default: "10000", Doc: "refuse a fee rate above this many base units per byte; 0 turns the check off"},
		},
		Summary: "Submits a transaction to the pool and relays it. A transaction already in the pool is accepted again (its txid is returned).",
		Result:  "txid (hex)",
		Errors:  []string{"-22 TX decode failed", "-25 missing or spent inputs, or max-fee-exceeded (fee rate above maxfeerate)", "-26 refused by the pool (reason as in mempool's kinds: min-relay-fee-not-met, txn-mempool-conflict, bad-signature, ...)", "-27 Transaction already in block chain"},
		Handler: sendRawTransaction,
	},
	{
		Name: "decoderawtransaction", Family: "Transactions", Public: true,
		Params:  []param{{Name: "hexstring", Type: "hex", Doc: "a transaction's encoding"}},
		Summary: "Decodes a transaction without looking it up.",
		Result:  "{txid, hash, size, version, locktime, vin, vout, extra, hex}",
		Errors:  []string{"-22 TX decode failed"},
		Handler: decodeRawTransaction,
	},
	{
		Name: "getrawmempool", Family: "Transactions", Public: true,
		Params:  []param{{Name: "verbose", Type: "boolean", Optional: true, Default: "false", Doc: "true: an object keyed by txid"}},
		Summary: "Returns the pool's transactions in arrival order.",
		Result:  "[txid], or {txid: {size, fee, feerate, time, height, ancestorcount, ancestorsize, ancestorfees, depends, spentby}}",
		Handler: getRawMempool,
	},
	{
		Name: "getmempoolinfo", Family: "Transactions", Public: true,
		Summary: "Returns the pool's size and policy.",
		Result:  "{loaded, size, bytes, usage, maxmempool, mempoolminfee, minrelaytxfee, orphans}",
		Handler: getMempoolInfo,
	},
	{
		Name: "getmempoolentry", Family: "Transactions", Public: true,
		Params:  []param{{Name: "txid", Type: "hash", Doc: "transaction id"}},
		Summary: "Returns a pool transaction's entry.",
		Result:  "{size, fee, feerate, time, height, ancestorcount, ancestorsize, ancestorfees, depends, spentby}",
		Errors:  []string{"-5 Transaction not in mempool"},
		Handler: getMempoolEntry,
	},
	{
		Name: "estimatesmartfee", Family: "Transactions", Public: true,
		Params: []param{
			{Name: "conf_target", Type: "number", Doc: "confirmation target in blocks, 1 to 1008 (larger values count as 1008)"},
			{Name: "estimate_mode", Type: "string", Optional: true, Default: "conservative", Doc: "accepted for compatibility: unset, economical or conservative"},
		},
		Summary: "Estimates the fee rate (base units per byte) that recent blocks confirmed within conf_target blocks.",
		Result:  "{feerate, blocks}, or {errors: [\"Insufficient data or no feerate found\"], blocks}",
		Errors:  []string{"-8 Invalid conf_target or estimate_mode"},
		Handler: estimateSmartFee,
	},
	{
		Name: "gettxstatus", Family: "Transactions", Public: true,
		Params:  []param{{Name: "txid", Type: "hash", Doc: "transaction id"}},
		Summary: "Says where a transaction stands: in the pool, confirmed, or refused / evicted / replaced / conflicted and why (remembered for 24 hours, up to 10,000 transactions), or unknown.",
		Result:  "{txid, status, reason, time, height, blockhash, confirmations, fee, size, replaced_by}; status is mempool, confirmed, refused, evicted, replaced, conflicted or unknown",
		Handler: getTxStatus,
	},
}

// txResult decodes tx for JSON.
func (s *Server) txResult(tx *wire.Tx, txid wire.Hash) rpcjson.TxResult {
	raw := tx.Encode()
	r := rpcjson.TxResult{
		TxID: txid, Hash: txid, Size: len(raw), Version: tx.Version, LockTime: tx.LockTime,
		Coinbase: tx.IsCoinbase(), Vin: make([]rpcjson.TxInResult, len(tx.Inputs)), Vout: make([]rpcjson.TxOutEntry, len(tx.Outputs)),
		Extra: hex.EncodeToString(tx.Extra), Hex: hex.EncodeToString(raw),
	}
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		r.Vin[i] = rpcjson.TxInResult{TxID: in.Prev.TxID, Vout: in.Prev.Index, PubKey: hex.EncodeToString(in.PubKey[:]),
			Sig: hex.EncodeToString(in.Sig[:]), Address: s.address(wire.Hash160(in.PubKey[:]))}
	}
	for i, o := range tx.Outputs {
		r.Vout[i] = rpcjson.TxOutEntry{Value: o.Amount, N: uint32(i), Address: s.address(o.PKH), PKH: hex.EncodeToString(o.PKH[:])}
	}
	return r
}

// withBlock adds the block fields of a confirmed transaction.
func (s *Server) withBlock(r *rpcjson.TxResult, cb *cachedBlock, givenBlock bool) {
	id := cb.id
	r.BlockHash = &id
	r.Time, r.BlockTime = cb.block.Header.Time, cb.block.Header.Time
	conf := int64(0)
	active := false
	if bi, ok := s.deps.Chain.BlockInfo(cb.id); ok {
		if c := s.confirmations(&bi); c > 0 {
			conf, active = c, true
		}
	}
	r.Confirmations = &conf
	if givenBlock {
		r.InActiveChain = &active
	}
}

func getRawTransaction(c *call) (any, error) {
	txid, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	var verbosity uint64
	if c.has(1) {
		if verbosity, err = c.verbosity(1, 0, 2); err != nil {
			return nil, err
		}
	}
	verbose := verbosity > 0
	bh, given, err := c.optHash(2)
	if err != nil {
		return nil, err
	}
	s := c.s
	var tx *wire.Tx
	var cb *cachedBlock
	var pos int
	switch {
	case given:
		if _, ok := s.deps.Chain.BlockInfo(bh); !ok {
			return nil, rpcErr(rpcjson.CodeNotFound, "Block hash not found")
		}
		if cb, err = s.block(bh); err != nil {
			return nil, err
		}
		p, ok := cb.position(txid)
		if !ok {
			return nil, rpcErr(rpcjson.CodeNotFound, "No such transaction found in the provided block")
		}
		pos, tx = p, cb.block.Txs[p]
	default:
		if e, ok := s.deps.Mempool.Get(txid); ok {
			tx = e.Tx
			break
		}
		if s.deps.TxIndex == nil {
			return nil, rpcErr(rpcjson.CodeNotFound, "No such mempool transaction. Use --txindex or provide a block hash to look up confirmed transactions")
		}
		if !s.deps.TxIndex.Ready() {
			return nil, rpcErr(rpcjson.CodeWarmingUp, "The transaction index is still being built")
		}
		id, ipos, ok, err := s.deps.TxIndex.Lookup(txid)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, rpcErr(rpcjson.CodeNotFound, "No such mempool or blockchain transaction")
		}
		if cb, err = s.block(id); err != nil {
			return nil, err
		}
		if int(ipos) >= len(cb.txids) || cb.txids[ipos] != txid {
			return nil, errors.New("txindex entry does not match its block")
		}
		pos, tx = int(ipos), cb.block.Txs[ipos]
	}
	if !verbose {
		return hex.EncodeToString(tx.Encode()), nil
	}
	r := s.txResult(tx, txid)
	if cb != nil {
		s.withBlock(&r, cb, given)
	}
	if verbosity == 2 && !tx.IsCoinbase() {
		if err := s.addPrevouts(&r, tx, cb, pos); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// addPrevouts adds prevouts and the fee to a verbosity 2 result: from
// the block's undo data for a confirmed transaction (left out, as Core
// does, when the block has none), else from the chain and the pool.
func (s *Server) addPrevouts(r *rpcjson.TxResult, tx *wire.Tx, cb *cachedBlock, pos int) error {
	if cb != nil {
		prev, err := s.blockPrevouts(cb)
		if rpcCode(err) == rpcjson.CodeNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		s.withPrevouts(r, tx, prev[pos], nil)
		return nil
	}
	coins := make([]wire.Coin, len(tx.Inputs))
	pooled := make([]bool, len(tx.Inputs))
	for i, in := range tx.Inputs {
		if e, ok := s.deps.Mempool.Get(in.Prev.TxID); ok && int(in.Prev.Index) < len(e.Tx.Outputs) {
			o := e.Tx.Outputs[in.Prev.Index]
			coins[i], pooled[i] = wire.Coin{Amount: o.Amount, PKH: o.PKH}, true
			continue
		}
		c, ok, err := s.deps.Chain.Coin(in.Prev)
		if err != nil {
			return err
		}
		if !ok {
			return nil // the pool moved on while we looked: no prevouts
		}
		coins[i] = c
	}
	s.withPrevouts(r, tx, coins, pooled)
	return nil
}

func (c *call) decodeTx(i int) (*wire.Tx, error) {
	raw, err := c.hexArg(i, c.s.params.MaxTxBytes, rpcjson.CodeDecode, "TX")
	if err != nil {
		return nil, err
	}
	tx, derr := wire.DecodeTx(raw)
	if derr != nil {
		return nil, rpcErr(rpcjson.CodeDecode, "TX decode failed: %v", derr)
	}
	return tx, nil
}

func decodeRawTransaction(c *call) (any, error) {
	tx, err := c.decodeTx(0)
	if err != nil {
		return nil, err
	}
	return c.s.txResult(tx, tx.TxID()), nil
}

// inChain reports whether txid has an unspent output in the UTXO set or
// is in the transaction index.
func (s *Server) inChain(tx *wire.Tx, txid wire.Hash) bool {
	for j := range tx.Outputs {
		if _, ok, _ := s.deps.Chain.Coin(wire.OutPoint{TxID: txid, Index: uint32(j)}); ok {
			return true
		}
	}
	if s.deps.TxIndex != nil && s.deps.TxIndex.Ready() {
		_, _, ok, _ := s.deps.TxIndex.Lookup(txid)
		return ok
	}
	return false
}

// DefaultMaxFeeRate is sendrawtransaction's default maxfeerate, in base
// units per byte (SPEC section 7).
const DefaultMaxFeeRate = 10_000

// feeOf returns tx's fee if every output it spends is in the pool or the
// UTXO set (otherwise the pool refuses it for its missing inputs).
func (s *Server) feeOf(tx *wire.Tx) (uint64, bool) {
	var in, out uint64
	for _, ti := range tx.Inputs {
		var amount uint64
		if e, ok := s.deps.Mempool.Get(ti.Prev.TxID); ok {
			if int(ti.Prev.Index) >= len(e.Tx.Outputs) {
				return 0, false
			}
			amount = e.Tx.Outputs[ti.Prev.Index].Amount
		} else if coin, ok, err := s.deps.Chain.Coin(ti.Prev); err == nil && ok {
			amount = coin.Amount
		} else {
			return 0, false
		}
		var carry uint64
		if in, carry = bits.Add64(in, amount, 0); carry != 0 {
			return 0, false
		}
	}
	for _, o := range tx.Outputs {
		var carry uint64
		if out, carry = bits.Add64(out, o.Amount, 0); carry != 0 {
			return 0, false
		}
	}
	if out > in {
		return 0, false
	}
	return in - out, true
}

// feeAbove reports whether fee is above rate base units per byte for
// size bytes.
func feeAbove(fee, rate uint64, size int) bool {
	hi, lo := bits.Mul64(rate, uint64(size))
	return hi == 0 && fee > lo
}

func sendRawTransaction(c *call) (any, error) {
	tx, err := c.decodeTx(0)
	if err != nil {
		return nil, err
	}
	maxRate, err := c.optUint(1, DefaultMaxFeeRate, 0, ^uint64(0))
	if err != nil {
		return nil, err
	}
	s := c.s
	txid := tx.TxID()
	if _, ok := s.deps.Mempool.Get(txid); ok {
		return txid, nil
	}
	if s.inChain(tx, txid) {
		return nil, rpcErr(rpcjson.CodeAlreadyInChain, "Transaction already in block chain")
	}
	if fee, ok := s.feeOf(tx); ok && maxRate > 0 && feeAbove(fee, maxRate, tx.SerializeSize()) {
		return nil, rpcErr(rpcjson.CodeVerify, "max-fee-exceeded: fee %d base units for %d bytes is above maxfeerate %d base/byte", fee, tx.SerializeSize(), maxRate)
	}
	if _, err := s.deps.Mempool.Accept(tx, ""); err != nil {
		var rej *mempool.RejectError
		if !errors.As(err, &rej) {
			return nil, err
		}
		switch {
		case rej.Kind == mempool.ErrAlreadyKnown:
			if _, ok := s.deps.Mempool.Get(txid); ok {
				return txid, nil
			}
			if s.inChain(tx, txid) {
				return nil, rpcErr(rpcjson.CodeAlreadyInChain, "Transaction already in block chain")
			}
			// Waiting in the orphan pool for its inputs.
			s.deps.TxStatus.Record(txid, rpcjson.StatusRefused, rej.Msg)
			return nil, rpcErr(rpcjson.CodeVerify, "missing-inputs: %s", rej.Msg)
		case rej.Kind == mempool.ErrMissingInputs:
			s.deps.TxStatus.Record(txid, rpcjson.StatusRefused, rej.Msg)
			return nil, rpcErr(rpcjson.CodeVerify, "%s", rej.Msg)
		default:
			s.deps.TxStatus.Record(txid, rpcjson.StatusRefused, rej.Msg)
			return nil, rpcErr(rpcjson.CodeVerifyRejected, "%s", rej.Msg)
		}
	}
	if s.deps.Relay != nil {
		s.deps.Relay.RelayTx(tx)
	}
	return txid, nil
}

func sortedHashes(h []wire.Hash) []wire.Hash {
	out := append([]wire.Hash{}, h...)
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

func mempoolEntry(e *mempool.EntryInfo) rpcjson.MempoolEntry {
	return rpcjson.MempoolEntry{
		Size: e.Size, Fee: e.Fee, FeeRate: float64(e.Fee) / float64(max(e.Size, 1)), Time: e.Added.Unix(), Height: e.Height,
		AncestorCount: e.AncestorCount, AncestorSize: e.AncestorSize, AncestorFees: e.AncestorFees,
		Depends: sortedHashes(e.Depends), SpentBy: sortedHashes(e.SpentBy),
	}
}

func getRawMempool(c *call) (any, error) {
	verbose, err := c.optBool(0, false)
	if err != nil {
		return nil, err
	}
	if !verbose {
		ids := c.s.deps.Mempool.TxIDs()
		if ids == nil {
			ids = []wire.Hash{}
		}
		return ids, nil
	}
	if c.public {
		if n := c.s.deps.Mempool.Stats().Count; n > MaxAddressResults {
			return nil, rpcErr(rpcjson.CodeInvalidParameter, "the pool holds %d transactions, more than the public interface lists verbosely (%d); use getrawmempool without verbose and getmempoolentry", n, MaxAddressResults)
		}
	}
	out := make(map[string]rpcjson.MempoolEntry)
	for _, e := range c.s.deps.Mempool.Entries() {
		out[e.TxID.String()] = mempoolEntry(&e)
	}
	return out, nil
}

func getMempoolInfo(c *call) (any, error) {
	st := c.s.deps.Mempool.Stats()
	return rpcjson.MempoolInfo{Loaded: true, Size: st.Count, Bytes: st.Bytes, Usage: st.Bytes, MaxMempool: st.MaxBytes,
		MempoolMinFee: st.MinRelayFee, MinRelayTxFee: st.MinRelayFee, Orphans: st.Orphans}, nil
}

func getMempoolEntry(c *call) (any, error) {
	txid, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	e, ok := c.s.deps.Mempool.Info(txid)
	if !ok {
		return nil, rpcErr(rpcjson.CodeNotFound, "Transaction not in mempool")
	}
	return mempoolEntry(&e), nil
}

func estimateSmartFee(c *call) (any, error) {
	if !isNumber(c.args[0]) {
		return nil, c.typeErr(0, "a number")
	}
	target, err := c.uint(0, 1, ^uint64(0))
	if err != nil {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "Invalid conf_target, must be between 1 and 1008")
	}
	target = min(target, 1008)
	mode, err := c.optStr(1, "conservative")
	if err != nil {
		return nil, err
	}
	switch mode {
	case "unset", "economical", "conservative", "UNSET", "ECONOMICAL", "CONSERVATIVE":
	default:
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"")
	}
	rate, ok := c.s.deps.Mempool.EstimateFee(int(target))
	if !ok {
		return rpcjson.FeeEstimate{Errors: []string{"Insufficient data or no feerate found"}, Blocks: int(target)}, nil
	}
	return rpcjson.FeeEstimate{FeeRate: &rate, Blocks: int(target)}, nil
}

func getTxStatus(c *call) (any, error) {
	txid, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	s := c.s
	r := rpcjson.TxStatus{TxID: txid, Status: rpcjson.StatusUnknown}
	if e, ok := s.deps.Mempool.Get(txid); ok {
		fee := e.Fee
		r.Status, r.Time, r.Fee, r.Size = rpcjson.StatusMempool, e.Added.Unix(), &fee, e.Size
		return r, nil
	}
	confirmedIn := func(id wire.Hash) bool {
		bi, ok := s.deps.Chain.BlockInfo(id)
		if !ok || !bi.OnMain {
			return false
		}
		h, blk := bi.Height, bi.ID
		r.Status, r.Height, r.BlockHash, r.Confirmations = rpcjson.StatusConfirmed, &h, &blk, s.confirmations(&bi)
		r.Time = int64(bi.Header.Time)
		return r.Confirmations > 0
	}
	if s.deps.TxIndex != nil && s.deps.TxIndex.Ready() {
		id, _, ok, err := s.deps.TxIndex.Lookup(txid)
		if err != nil {
			return nil, err
		}
		if ok && confirmedIn(id) {
			return r, nil
		}
	}
	conf, failed, hasConf, hasFailed := s.deps.TxStatus.Lookup(txid)
	if hasConf && confirmedIn(conf.Block) {
		return r, nil
	}
	r = rpcjson.TxStatus{TxID: txid, Status: rpcjson.StatusUnknown}
	if hasFailed {
		r.Status, r.Reason, r.Time = failed.Status, failed.Reason, failed.Time.Unix()
		if failed.Status == rpcjson.StatusReplaced {
			by := failed.ReplacedBy
			r.ReplacedBy = &by
		}
	}
	return r, nil
}
