package wallet

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/consensus"
	"tally/wire"
)

// UTXO is an unspent output the wallet can spend, as a node reports it.
// Confirmations is 0 for an output of a transaction still in the mempool;
// outputs with negative confirmations (conflicted) are never selected.
type UTXO struct {
	OutPoint      wire.OutPoint
	Amount        uint64
	PKH           [20]byte
	Confirmations int64
}

// ErrInsufficientFunds is wrapped by the error SelectCoins returns when the
// coins cannot pay the amount plus the fee; the message gives the amounts.
var ErrInsufficientFunds = errors.New("insufficient funds")

// TxSize returns the encoded size in bytes of a transaction with nIn
// inputs, nOut outputs and a memo of memoLen bytes (SPEC section 2; the
// same as wire.Tx.SerializeSize of such a transaction).
func TxSize(nIn, nOut, memoLen int) int {
	return 4 + uvarintLen(uint64(nIn)) + nIn*wire.InputSize +
		uvarintLen(uint64(nOut)) + nOut*wire.OutputSize +
		8 + uvarintLen(uint64(memoLen)) + memoLen
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// satMul and satAdd saturate at the largest uint64 instead of wrapping.
func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

func satAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}

// SelectCoins chooses coins to pay target base units in one output with no
// memo; see SelectCoinsFor.
func SelectCoins(utxos []UTXO, target, feeRate, dustLimit uint64) (selected []UTXO, change, fee uint64, err error) {
	return SelectCoinsFor(utxos, target, 1, 0, feeRate, dustLimit)
}

// selection is the shape of a transaction being funded.
type selection struct {
	target, feeRate, dust uint64
	nOut, memoLen         int
}

// fee returns the fee of a transaction with nIn inputs, with or without a
// change output.
func (s *selection) fee(nIn int, withChange bool) uint64 {
	nOut := s.nOut
	if withChange {
		nOut++
	}
	return satMul(s.feeRate, uint64(TxSize(nIn, nOut, s.memoLen)))
}

// settle decides, for coins summing to sum, whether they pay the target and
// with what change and fee.
func (s *selection) settle(nIn int, sum uint64) (change, fee uint64, ok bool) {
	if f := s.fee(nIn, true); sum >= satAdd(s.target, f) {
		if c := sum - s.target - f; c > 0 && c >= s.dust {
			return c, f, true
		}
	}
	if f := s.fee(nIn, false); sum >= satAdd(s.target, f) {
		return 0, sum - s.target, true
	}
	return 0, 0, false
}

// pick selects from pool, which is ordered by preference, or reports that
// it cannot pay. First it looks for the smallest single coin that pays
// (one input is the smallest transaction); otherwise it takes coins in
// pool order until they pay, skipping coins worth less than the fee of
// spending them.
func (s *selection) pick(pool []UTXO) ([]UTXO, uint64, uint64, bool) {
	best := -1
	for i, u := range pool {
		if _, _, ok := s.settle(1, u.Amount); ok && (best < 0 || u.Amount < pool[best].Amount) {
			best = i
		}
	}
	if best >= 0 {
		change, fee, _ := s.settle(1, pool[best].Amount)
		return []UTXO{pool[best]}, change, fee, true
	}
	inputFee := satMul(s.feeRate, wire.InputSize)
	var sel []UTXO
	var sum uint64
	for _, u := range pool {
		if u.Amount <= inputFee {
			continue
		}
		sel = append(sel, u)
		sum += u.Amount // the caller checked the pool's total fits
		if change, fee, ok := s.settle(len(sel), sum); ok {
			return sel, change, fee, true
		}
	}
	return nil, 0, 0, false
}

// SelectCoinsFor chooses coins from utxos to pay target base units in
// nOutputs outputs with a memo of memoLen bytes, at feeRate base units per
// byte of the transaction's encoding. It returns the coins, the change
// (0 for none) and the fee.
//
// Confirmed coins are used first; unconfirmed ones (0 confirmations) only
// when the confirmed ones cannot pay. Among the allowed coins it takes the
// smallest single coin that pays, or else coins largest first. The fee is
// feeRate times the exact size of the resulting transaction (TxSize, with
// a change output if there is change). A change below dustLimit is not
// worth an output: it is added to the fee instead, so then
// fee = sum(selected) - target. Duplicate outpoints are an error; an
// ErrInsufficientFunds error says how much was needed and available.
func SelectCoinsFor(utxos []UTXO, target uint64, nOutputs, memoLen int, feeRate, dustLimit uint64) (selected []UTXO, change, fee uint64, err error) {
	if target == 0 {
		return nil, 0, 0, errors.New("amount to send must be positive")
	}
	if nOutputs < 1 || memoLen < 0 {
		return nil, 0, 0, fmt.Errorf("bad transaction shape: %d outputs, %d-byte memo", nOutputs, memoLen)
	}
	seen := make(map[wire.OutPoint]bool, len(utxos))
	var confirmed, all []UTXO
	var total, unconfirmed uint64
	for _, u := range utxos {
		if seen[u.OutPoint] {
			return nil, 0, 0, fmt.Errorf("coin %s:%d listed twice", u.OutPoint.TxID, u.OutPoint.Index)
		}
		seen[u.OutPoint] = true
		if u.Confirmations < 0 || u.Amount == 0 {
			continue
		}
		var carry uint64
		if total, carry = bits.Add64(total, u.Amount, 0); carry != 0 {
			return nil, 0, 0, errors.New("coin amounts overflow: the coin list is not genuine")
		}
		all = append(all, u)
		if u.Confirmations > 0 {
			confirmed = append(confirmed, u)
		} else {
			unconfirmed += u.Amount
		}
	}
	byAmount := func(a, b UTXO) int {
		if c := cmp.Compare(b.Amount, a.Amount); c != 0 {
			return c
		}
		if c := slices.Compare(a.OutPoint.TxID[:], b.OutPoint.TxID[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.OutPoint.Index, b.OutPoint.Index)
	}
	slices.SortFunc(confirmed, byAmount)
	// Confirmed coins first, then unconfirmed, each largest first.
	slices.SortFunc(all, func(a, b UTXO) int {
		if ca, cb := a.Confirmations > 0, b.Confirmations > 0; ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		return byAmount(a, b)
	})
	s := &selection{target: target, feeRate: feeRate, dust: dustLimit, nOut: nOutputs, memoLen: memoLen}
	if sel, change, fee, ok := s.pick(confirmed); ok {
		return sel, change, fee, nil
	}
	if len(all) > len(confirmed) {
		if sel, change, fee, ok := s.pick(all); ok {
			return sel, change, fee, nil
		}
	}
	need := satAdd(target, s.fee(max(len(all), 1), false))
	return nil, 0, 0, fmt.Errorf("%w: sending %s TALLY at a fee rate of %d base/byte needs at least %s TALLY, the wallet has %s TALLY (%s of it unconfirmed)",
		ErrInsufficientFunds, FormatAmount(target), feeRate, FormatAmount(need), FormatAmount(total), FormatAmount(unconfirmed))
}

// BuildAndSign builds and signs a transaction (version 1, lock_time 0)
// spending selected and paying outputs, then change if change.Amount > 0
// (change comes last), with memo as its extra field. keys returns the
// private key for a coin's pkh; a missing key or one whose public key does
// not hash to the coin's pkh is an error. Every input signs
// wire.SigHash(tx, networkID), computed once, and every signature is
// checked with consensus.VerifySignature before the transaction is
// returned. The fee is sum(selected) - sum(outputs) - change.Amount; it is
// an error for it to be negative.
func BuildAndSign(selected []UTXO, outputs []wire.TxOut, change wire.TxOut,
	keys func(pkh [20]byte) (*secp256k1.PrivateKey, bool), networkID [4]byte, memo []byte) (*wire.Tx, error) {
	if len(selected) == 0 {
		return nil, errors.New("transaction needs at least one coin to spend")
	}
	if len(outputs) == 0 {
		return nil, errors.New("transaction needs at least one output")
	}
	if len(memo) > consensus.MaxMemoBytes {
		return nil, fmt.Errorf("memo is %d bytes, at most %d", len(memo), consensus.MaxMemoBytes)
	}
	tx := &wire.Tx{Version: 1, LockTime: 0, Extra: append([]byte(nil), memo...)}
	tx.Outputs = append(make([]wire.TxOut, 0, len(outputs)+1), outputs...)
	if change.Amount > 0 {
		tx.Outputs = append(tx.Outputs, change)
	}
	var in, out uint64
	for i, o := range tx.Outputs {
		if o.Amount == 0 {
			return nil, fmt.Errorf("output %d has amount 0", i)
		}
		var c uint64
		if out, c = bits.Add64(out, o.Amount, 0); c != 0 {
			return nil, errors.New("output amounts overflow")
		}
	}
	signers := make([]*secp256k1.PrivateKey, len(selected))
	seen := make(map[wire.OutPoint]bool, len(selected))
	for i, u := range selected {
		if seen[u.OutPoint] {
			return nil, fmt.Errorf("coin %s:%d selected twice", u.OutPoint.TxID, u.OutPoint.Index)
		}
		seen[u.OutPoint] = true
		var c uint64
		if in, c = bits.Add64(in, u.Amount, 0); c != 0 {
			return nil, errors.New("input amounts overflow")
		}
		key, ok := keys(u.PKH)
		if !ok || key == nil {
			return nil, fmt.Errorf("no private key for coin %s:%d", u.OutPoint.TxID, u.OutPoint.Index)
		}
		pub := PubKeyBytes(key)
		if wire.Hash160(pub[:]) != u.PKH {
			return nil, fmt.Errorf("key for coin %s:%d does not match its owner", u.OutPoint.TxID, u.OutPoint.Index)
		}
		signers[i] = key
		tx.Inputs = append(tx.Inputs, wire.TxIn{Prev: u.OutPoint, PubKey: pub})
	}
	if out > in {
		return nil, fmt.Errorf("outputs total %s TALLY, more than the %s TALLY of the coins spent", FormatAmount(out), FormatAmount(in))
	}
	msg := wire.SigHash(tx, networkID)
	for i := range tx.Inputs {
		tx.Inputs[i].Sig = consensus.SignInput(signers[i], msg)
	}
	for i := range tx.Inputs {
		if err := consensus.VerifySignature(&tx.Inputs[i].PubKey, &tx.Inputs[i].Sig, msg); err != nil {
			return nil, fmt.Errorf("self-check of input %d signature failed: %w", i, err)
		}
	}
	return tx, nil
}

// SignedByUs reports whether some input of tx carries a valid signature,
// over tx's signature hash, by a key whose hash isMine accepts: then tx
// is a transaction this wallet signed (every signature covers the whole
// transaction), and its outputs are what the wallet itself wrote. The
// wallet trusts the change of its own unconfirmed transactions on this
// ground, and nothing else a node says about an unconfirmed output.
func SignedByUs(tx *wire.Tx, networkID [4]byte, isMine func(pkh [20]byte) bool) bool {
	if tx.IsCoinbase() {
		return false
	}
	var msg wire.Hash
	hashed := false
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		if !isMine(wire.Hash160(in.PubKey[:])) {
			continue
		}
		if !hashed {
			msg, hashed = wire.SigHash(tx, networkID), true
		}
		if consensus.VerifySignature(&in.PubKey, &in.Sig, msg) == nil {
			return true
		}
	}
	return false
}

// Consolidation: at or below ConsolidationRate base units per byte (cheap
// fees), a payment also spends up to MaxConsolidate of the wallet's
// smallest confirmed coins, so that a wallet receiving many small coins
// merges them while that is cheap instead of paying for them later at
// higher rates (Bitcoin Core's -consolidatefeerate idea). Above it, coin
// selection keeps to as few inputs as it can.
const (
	ConsolidationRate = 2
	MaxConsolidate    = 10
)

// Consolidate adds to selected (which pays target in nOutputs outputs
// with a memoLen-byte memo at feeRate, with change) up to MaxConsolidate
// of the smallest other confirmed coins of utxos, each worth more than
// twice the fee of spending it, when feeRate is at most ConsolidationRate.
// It returns the coins, the change and the fee; the change only grows,
// so the payment still pays. Otherwise it returns selected unchanged with
// its change and fee.
func Consolidate(selected, utxos []UTXO, target uint64, nOutputs, memoLen int, feeRate, change, fee uint64) ([]UTXO, uint64, uint64) {
	if feeRate > ConsolidationRate || len(selected) >= MaxConsolidate+1 {
		return selected, change, fee
	}
	chosen := make(map[wire.OutPoint]bool, len(selected))
	var sum uint64
	for _, u := range selected {
		chosen[u.OutPoint] = true
		sum += u.Amount
	}
	inputFee := satMul(feeRate, wire.InputSize)
	var small []UTXO
	for _, u := range utxos {
		if !chosen[u.OutPoint] && u.Confirmations > 0 && u.Amount > 2*inputFee {
			small = append(small, u)
		}
	}
	slices.SortFunc(small, func(a, b UTXO) int {
		if c := cmp.Compare(a.Amount, b.Amount); c != 0 {
			return c
		}
		return slices.Compare(a.OutPoint.TxID[:], b.OutPoint.TxID[:])
	})
	out := append([]UTXO(nil), selected...)
	for _, u := range small {
		if len(out) >= len(selected)+MaxConsolidate || len(out) >= MaxConsolidate+1 {
			break
		}
		out = append(out, u)
		sum += u.Amount
	}
	if len(out) == len(selected) {
		return selected, change, fee
	}
	newFee := satMul(feeRate, uint64(TxSize(len(out), nOutputs+1, memoLen)))
	if sum < target+newFee {
		return selected, change, fee
	}
	return out, sum - target - newFee, newFee
}
