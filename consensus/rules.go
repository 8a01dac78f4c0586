package consensus

import (
	"encoding/binary"
	"fmt"
	"slices"

	"tally/wire"
)

// Maximum sizes of the extra field.
const (
	MaxMemoBytes         = 80
	MaxCoinbaseFreeBytes = 92
	coinbaseHeightBytes  = 8
)

// CheckHeaderSanity checks the rules a header satisfies on its own: version,
// a valid target no easier than the pow limit, and proof of work.
func CheckHeaderSanity(h *wire.Header, id wire.Hash, p *Params) error {
	if h.Version != 1 {
		return ruleErr(ErrBadVersion, "block version %d, want 1", h.Version)
	}
	return CheckProofOfWork(id, h.Bits, p.PowLimit)
}

// Parent is what the header rules need to know of a block's parent.
type Parent struct {
	Height     uint64
	Time       uint64
	MedianTime uint64 // median time past of the 11 blocks ending at the parent
}

// CheckHeaderContext checks a header against its parent: the ASERT bits,
// time after the median time past, and time no further than
// max_future_seconds past now (ErrTimeTooNew: defer, do not mark invalid).
// A negative now skips the future-time check (for headers judged without a
// clock).
func CheckHeaderContext(h *wire.Header, parent Parent, p *Params, now int64) error {
	if want := NextBits(p, parent.Height, parent.Time); h.Bits != want {
		return ruleErr(ErrBadBits, "bits %08x, want %08x", h.Bits, want)
	}
	if h.Time <= parent.MedianTime {
		return ruleErr(ErrTimeTooOld, "time %d not after median time past %d", h.Time, parent.MedianTime)
	}
	if now >= 0 && h.Time > uint64(now)+uint64(p.MaxFutureSeconds) {
		return ruleErr(ErrTimeTooNew, "time %d more than %d s after now %d", h.Time, p.MaxFutureSeconds, now)
	}
	return nil
}

// MedianTime returns the median of the given block times (at most 11, the
// last ones before the block being checked) as Bitcoin Core does: sort and
// take element n/2.
func MedianTime(times []uint64) uint64 {
	if len(times) == 0 {
		return 0
	}
	s := make([]uint64, len(times))
	copy(s, times)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// CheckTxSanity checks the rules a transaction satisfies on its own:
// version, inputs and outputs present, no duplicate inputs, output amounts
// and their sum, size, and the extra field.
func CheckTxSanity(tx *wire.Tx, p *Params) error {
	if tx.Version != 1 {
		return ruleErr(ErrBadTxVersion, "tx version %d, want 1", tx.Version)
	}
	// A coinbase may have no outputs: it must have none when its reward
	// (subsidy plus fees) is 0, which CheckBlockConnect checks.
	if len(tx.Outputs) == 0 && !tx.IsCoinbase() {
		return ruleErr(ErrNoOutputs, "transaction has no outputs")
	}
	if size := tx.SerializeSize(); size > p.MaxTxBytes {
		return ruleErr(ErrTxTooBig, "transaction is %d bytes, limit %d", size, p.MaxTxBytes)
	}
	var total uint64
	for i, out := range tx.Outputs {
		if out.Amount == 0 || out.Amount > p.MaxMoney {
			return ruleErr(ErrBadOutputValue, "output %d amount %d outside 1..%d", i, out.Amount, p.MaxMoney)
		}
		total += out.Amount
		if total < out.Amount || total > p.MaxMoney {
			return ruleErr(ErrOutputsOverflow, "outputs sum above max_money %d", p.MaxMoney)
		}
	}
	if tx.IsCoinbase() {
		if len(tx.Extra) < coinbaseHeightBytes || len(tx.Extra) > coinbaseHeightBytes+MaxCoinbaseFreeBytes {
			return ruleErr(ErrBadCoinbaseExtra, "coinbase extra is %d bytes, want 8..%d", len(tx.Extra), coinbaseHeightBytes+MaxCoinbaseFreeBytes)
		}
		if tx.LockTime != 0 {
			return ruleErr(ErrCoinbaseLockTime, "coinbase lock_time %d, want 0", tx.LockTime)
		}
		return nil
	}
	if len(tx.Extra) > MaxMemoBytes {
		return ruleErr(ErrMemoTooLong, "memo is %d bytes, limit %d", len(tx.Extra), MaxMemoBytes)
	}
	if len(tx.Inputs) > 1 {
		seen := make(map[wire.OutPoint]struct{}, len(tx.Inputs))
		for _, in := range tx.Inputs {
			if _, dup := seen[in.Prev]; dup {
				return ruleErr(ErrDuplicateInput, "input %s:%d spent twice", in.Prev.TxID, in.Prev.Index)
			}
			seen[in.Prev] = struct{}{}
		}
	}
	return nil
}

// CoinbaseExtra returns a coinbase extra field: the height as u64
// little-endian, then free (which the caller keeps within
// MaxCoinbaseFreeBytes).
func CoinbaseExtra(height uint64, free []byte) []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, coinbaseHeightBytes+len(free)), height)
	return append(b, free...)
}

// CoinbaseHeight returns the height a coinbase's extra field commits to.
func CoinbaseHeight(tx *wire.Tx) (uint64, bool) {
	if len(tx.Extra) < coinbaseHeightBytes {
		return 0, false
	}
	return binary.LittleEndian.Uint64(tx.Extra), true
}

// CheckBodyCommitment checks what a body can be judged on without its
// parent: the Merkle root first (so that a body that does not match its
// header is told apart from a block the header commits to), then at least
// one transaction and the size limit. A block with an unknown parent
// passes this before it may wait as an orphan, so that a mutated copy
// cannot take the genuine block's place.
func CheckBodyCommitment(b *wire.Block, txids []wire.Hash, p *Params) error {
	// The Merkle root comes first: every later rule judges content the
	// header commits to, so only a failure after this one may mark the
	// block's id invalid.
	if root := wire.MerkleRoot(txids); root != b.Header.MerkleRoot {
		return ruleErr(ErrBadMerkleRoot, "merkle root %s, header says %s", root, b.Header.MerkleRoot)
	}
	if len(b.Txs) == 0 {
		return ruleErr(ErrNoTxs, "block has no transactions")
	}
	if size := b.SerializeSize(); size > p.MaxBlockBytes {
		return ruleErr(ErrBlockTooBig, "block is %d bytes, limit %d", size, p.MaxBlockBytes)
	}
	return nil
}

// CheckBlockSanity checks the rules a block satisfies given only its
// height: transactions present, coinbase first and only first with the
// block's height, Merkle root, no duplicate txids, size, every transaction's
// sanity and finality. txids are the block's txids in order.
func CheckBlockSanity(b *wire.Block, txids []wire.Hash, height uint64, p *Params) error {
	if err := CheckBodyCommitment(b, txids, p); err != nil {
		return err
	}
	if !b.Txs[0].IsCoinbase() {
		return ruleErr(ErrFirstTxNotCoinbase, "first transaction is not a coinbase")
	}
	repeat := firstRepeat(txids)
	for i, tx := range b.Txs {
		if i > 0 && tx.IsCoinbase() {
			return ruleErr(ErrMultipleCoinbases, "transaction %d is a second coinbase", i)
		}
		if i == repeat {
			return ruleErr(ErrDuplicateTx, "transaction %s appears twice", txids[i])
		}
		if err := CheckTxSanity(tx, p); err != nil {
			return err
		}
		if tx.LockTime > height {
			return ruleErr(ErrNonFinal, "transaction %s lock_time %d above height %d", txids[i], tx.LockTime, height)
		}
	}
	if h, _ := CoinbaseHeight(b.Txs[0]); h != height {
		return ruleErr(ErrBadCoinbaseHeight, "coinbase height %d, block height %d", h, height)
	}
	return nil
}

// firstRepeat returns the index of the first txid equal to an earlier
// one, or -1. Sorting the first 8 bytes of every txid (keysRepeat) shows
// that none repeats without a map of the block's txids; only when two
// txids share those bytes (by chance about once in 10^12 full blocks, or
// ground on purpose for 2^32 hashes) are they compared whole.
func firstRepeat(txids []wire.Hash) int {
	keys := make([]uint64, len(txids))
	for i := range txids {
		keys[i] = binary.LittleEndian.Uint64(txids[i][:8])
	}
	if !keysRepeat(keys) {
		return -1
	}
	seen := make(map[wire.Hash]struct{}, len(txids))
	for j, id := range txids {
		if _, dup := seen[id]; dup {
			return j
		}
		seen[id] = struct{}{}
	}
	return -1
}

// keysRepeat sorts keys and reports whether two are equal. For the
// thousands of keys of a full block this takes the CPU of building a map
// of the txids or outpoints (BenchmarkCheckFullBlock) and a tenth of its
// memory, whose first touch is most of what such a map costs in a busy
// node (BenchmarkValidateCompactBlock's profile).
func keysRepeat(keys []uint64) bool {
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			return true
		}
	}
	return false
}

// CoinView gives the unspent outputs a transaction or block may spend.
type CoinView interface {
	// Coin returns the unspent output at op, if any. A non-nil error
	// means the view could not answer (a storage failure): the rules
	// return it as it is, never as a missing input, so that a disk error
	// cannot make a valid block look invalid.
	Coin(op wire.OutPoint) (wire.Coin, bool, error)
}

// CheckTxInputs checks a non-coinbase transaction's inputs against view at
// the given spending height: every input unspent, mature, owned by its
// public key, input sums in range, and outputs no more than inputs. It
// returns the fee. Signatures are checked separately (CheckTxSignatures).
// The transaction must have passed CheckTxSanity (no duplicate inputs,
// output sum in range): this function relies on it.
func CheckTxInputs(tx *wire.Tx, txid wire.Hash, height uint64, view CoinView, p *Params) (uint64, error) {
	if len(tx.Inputs) == 0 {
		return 0, ruleErr(ErrNoInputs, "transaction %s has no inputs", txid)
	}
	var in uint64
	for i := range tx.Inputs {
		txin := &tx.Inputs[i]
		coin, ok, err := view.Coin(txin.Prev)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, ruleErr(ErrMissingInput, "transaction %s input %d spends unknown or spent output %s:%d", txid, i, txin.Prev.TxID, txin.Prev.Index)
		}
		if coin.Coinbase && coin.Height != 0 && height < coin.Height+p.CoinbaseMaturity {
			return 0, ruleErr(ErrImmatureSpend, "transaction %s input %d spends coinbase of height %d at height %d (maturity %d)", txid, i, coin.Height, height, p.CoinbaseMaturity)
		}
		if pubKeyHash(&txin.PubKey) != coin.PKH {
			return 0, ruleErr(ErrWrongPubKey, "transaction %s input %d: public key does not hash to the output's pkh", txid, i)
		}
		in += coin.Amount
		if in < coin.Amount || in > p.MaxMoney {
			return 0, ruleErr(ErrInputsOverflow, "transaction %s inputs sum above max_money", txid)
		}
	}
	var out uint64
	for _, o := range tx.Outputs {
		out += o.Amount // CheckTxSanity bounds the sum by max_money
	}
	if out > in {
		return 0, ruleErr(ErrSpendTooMuch, "transaction %s spends %d, has %d", txid, out, in)
	}
	return in - out, nil
}

// checkBlockTxInputs checks a block's non-coinbase transaction against the
// coins before it: no input already spent in the block, then CheckTxInputs.
func checkBlockTxInputs(tx *wire.Tx, txid wire.Hash, height uint64, bv *blockView, p *Params) (uint64, error) {
	for k, in := range tx.Inputs {
		if _, gone := bv.spent[in.Prev]; gone {
			return 0, ruleErr(ErrDoubleSpend, "transaction %s input %d spends %s:%d, already spent in this block", txid, k, in.Prev.TxID, in.Prev.Index)
		}
	}
	return CheckTxInputs(tx, txid, height, bv, p)
}

// blockView layers a block's own outputs and spends over the coins before
// it. The outputs of the transactions before next are the block's coins,
// found through index (txid -> position) rather than a map of every output:
// most outputs of a block are not spent in it. spent, the outpoints spent
// so far, is nil while it cannot matter (see CheckBlockConnect).
type blockView struct {
	base   CoinView
	b      *wire.Block
	height uint64
	index  txIndex
	next   int
	spent  map[wire.OutPoint]struct{}
	// found, while record is set, gathers every coin found, in order.
	found  []wire.Coin
	record bool
}

func (v *blockView) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	c, ok, err := v.coin(op)
	if ok && v.record {
		v.found = append(v.found, c)
	}
	return c, ok, err
}

func (v *blockView) coin(op wire.OutPoint) (wire.Coin, bool, error) {
	if _, gone := v.spent[op]; gone {
		return wire.Coin{}, false, nil
	}
	if j, ok := v.index.first(op.TxID); ok && j < v.next {
		if outs := v.b.Txs[j].Outputs; int(op.Index) < len(outs) {
			o := &outs[op.Index]
			return wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: v.height, Coinbase: j == 0}, true, nil
		}
	}
	return v.base.Coin(op)
}

// txIndex finds the first position of a txid among a block's. It is a
// sorted slice rather than a map: a map sized for a block's transactions
// costs more to make (its memory is fresh) than all the lookups into it.
// Each key is the txid's first 8 bytes with the low posBits replaced by
// the position, so that one sort orders by prefix, then position; equal
// prefixes are told apart by comparing whole txids. A block with more
// transactions than posBits can number uses a map.
type txIndex struct {
	keys  []uint64
	txids []wire.Hash
	big   map[wire.Hash]int
}

const posBits = 20

func newTxIndex(txids []wire.Hash) txIndex {
	if len(txids) >= 1<<posBits {
		big := make(map[wire.Hash]int, len(txids))
		for i, id := range txids {
			if _, dup := big[id]; !dup {
				big[id] = i
			}
		}
		return txIndex{big: big}
	}
	keys := make([]uint64, len(txids))
	for i := range txids {
		keys[i] = txidPrefix(txids[i]) | uint64(i)
	}
	slices.Sort(keys)
	return txIndex{keys: keys, txids: txids}
}

func txidPrefix(id wire.Hash) uint64 {
	return binary.LittleEndian.Uint64(id[:8]) &^ (1<<posBits - 1)
}

// first returns the lowest position of id, if the block has it.
func (x txIndex) first(id wire.Hash) (int, bool) {
	if x.big != nil {
		j, ok := x.big[id]
		return j, ok
	}
	p := txidPrefix(id)
	i, _ := slices.BinarySearch(x.keys, p)
	for ; i < len(x.keys) && x.keys[i]&^(1<<posBits-1) == p; i++ {
		if j := int(x.keys[i] & (1<<posBits - 1)); x.txids[j] == id {
			return j, true
		}
	}
	return 0, false
}

// spendsRepeat reports whether two inputs of b may spend the same
// outpoint: whether two share a key made of the first 8 bytes of the txid
// and the output index (multiplied by an odd constant, so that the
// outputs of one transaction have distinct keys).
func spendsRepeat(b *wire.Block, inputs int) bool {
	keys := make([]uint64, 0, inputs)
	for _, tx := range b.Txs {
		for i := range tx.Inputs {
			op := &tx.Inputs[i].Prev
			keys = append(keys, binary.LittleEndian.Uint64(op.TxID[:8])^uint64(op.Index)*0x9e3779b97f4a7c15)
		}
	}
	return keysRepeat(keys)
}

// CheckBlockConnect checks a sane block's transactions against view (the
// UTXO set as of its parent): no txid equal to one with unspent outputs,
// every non-coinbase transaction's inputs against the coins before it
// (including earlier outputs of the block), no output spent twice, and the
// coinbase paying at most subsidy plus fees. It returns the total fees.
// Signatures are checked separately.
//
// A txid never repeats in a valid chain: a coinbase commits to its height,
// and a copy of an earlier transaction spends the outputs the earlier one
// already spent, which only a repeated txid before it could have created
// again. So a transaction whose inputs are all unspent cannot overwrite
// unspent outputs (barring a SHA-256 collision), and only the coinbase and
// a transaction that fails its input checks are looked up for overwrites:
// the verdict and the error reported are those of checking every
// transaction first, without a lookup per output of every transaction.
func CheckBlockConnect(b *wire.Block, txids []wire.Hash, height uint64, view CoinView, p *Params) (uint64, error) {
	fees, _, err := CheckBlockConnectSpent(b, txids, height, view, p)
	return fees, err
}

// CheckBlockConnectSpent is CheckBlockConnect that also returns, for a
// valid block, the coin every input of its non-coinbase transactions
// spends, in block order: the block's undo data. A coin created earlier in
// the block has the block's height, which no coin of a chain's UTXO set
// as of the parent has: the caller tells the two apart by it.
func CheckBlockConnectSpent(b *wire.Block, txids []wire.Hash, height uint64, view CoinView, p *Params) (uint64, []wire.Coin, error) {
	inputs := 0
	for _, tx := range b.Txs {
		inputs += len(tx.Inputs)
	}
	bv := &blockView{base: view, b: b, height: height, index: newTxIndex(txids), found: make([]wire.Coin, 0, inputs)}
	// The outpoints spent so far matter to an input only if another input
	// spends the same outpoint, and to the overwrite check, which runs on
	// a failure and returns. So unless two inputs may spend one outpoint,
	// they are gathered only for that check.
	if spendsRepeat(b, inputs) {
		bv.spent = make(map[wire.OutPoint]struct{}, inputs)
	}
	overwrite := func(i int) error {
		if bv.spent == nil && i > 0 {
			bv.spent = make(map[wire.OutPoint]struct{})
			for _, tx := range b.Txs[1:i] {
				for _, in := range tx.Inputs {
					bv.spent[in.Prev] = struct{}{}
				}
			}
		}
		for j := range b.Txs[i].Outputs {
			_, ok, err := bv.Coin(wire.OutPoint{TxID: txids[i], Index: uint32(j)})
			if err != nil {
				return err
			}
			if ok {
				return ruleErr(ErrOverwriteTx, "transaction %s overwrites unspent outputs", txids[i])
			}
		}
		return nil
	}
	var fees uint64
	for i, tx := range b.Txs {
		if i == 0 {
			if err := overwrite(0); err != nil {
				return 0, nil, err
			}
		} else {
			bv.record = true
			fee, err := checkBlockTxInputs(tx, txids[i], height, bv, p)
			bv.record = false
			if _, isRule := err.(*RuleError); err != nil && !isRule {
				return 0, nil, err // the view failed: no verdict
			}
			if err != nil {
				if oerr := overwrite(i); oerr != nil {
					return 0, nil, oerr
				}
				return 0, nil, err
			}
			fees += fee
			if fees < fee || fees > p.MaxMoney {
				return 0, nil, ruleErr(ErrInputsOverflow, "block fees above max_money")
			}
			if bv.spent != nil {
				for _, in := range tx.Inputs {
					bv.spent[in.Prev] = struct{}{}
				}
			}
		}
		bv.next = i + 1 // tx's outputs are now coins of the block
	}
	limit := Subsidy(p, height) + fees
	var cb uint64
	for _, o := range b.Txs[0].Outputs {
		cb += o.Amount
	}
	if cb > limit {
		return 0, nil, ruleErr(ErrBadCoinbaseValue, "coinbase pays %d, limit %d (subsidy + fees)", cb, limit)
	}
	if limit > 0 && len(b.Txs[0].Outputs) == 0 {
		// SPEC section 2: only a coinbase whose reward is 0 has no outputs.
		return 0, nil, ruleErr(ErrNoOutputs, "coinbase has no outputs, reward is %d", limit)
	}
	if len(bv.found) != inputs-len(b.Txs[0].Inputs) {
		// Every input of a transaction that passed was found once.
		return 0, nil, fmt.Errorf("consensus: %d coins found for %d inputs", len(bv.found), inputs-len(b.Txs[0].Inputs))
	}
	return fees, bv.found, nil
}
