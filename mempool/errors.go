package mempool

import (
	"errors"
	"fmt"

	"tally/consensus"
)

// ErrorKind is a reason the pool refuses a transaction. Its string is the
// short reason sendrawtransaction and gettxstatus report.
type ErrorKind string

// Error returns the reason string.
func (k ErrorKind) Error() string { return string(k) }

// Reasons for refusing a transaction.
const (
	ErrAlreadyKnown = ErrorKind("txn-already-known")
	// ErrConflict: a spend of what a pool transaction spends. Since
	// replace-by-fee the pool reports why a replacement was refused
	// instead (ErrInsufficientFee, ...); the kind stays for callers that
	// classify it.
	ErrConflict      = ErrorKind("txn-mempool-conflict")
	ErrLowFee        = ErrorKind("min-relay-fee-not-met")
	ErrTooLarge      = ErrorKind("tx-size")
	ErrNonFinal      = ErrorKind("non-final")
	ErrImmature      = ErrorKind("premature-spend-of-coinbase")
	ErrBadSig        = ErrorKind("bad-signature")
	ErrMissingInputs = ErrorKind("missing-inputs")
	ErrInvalid       = ErrorKind("invalid")
	ErrCoinbase      = ErrorKind("coinbase")
	ErrPoolFull      = ErrorKind("mempool-full")
	ErrTooLongChain  = ErrorKind("too-long-mempool-chain")
	// Replace-by-fee refusals (SPEC section 6), named as Bitcoin Core
	// names them.
	ErrInsufficientFee     = ErrorKind("insufficient fee")
	ErrTooManyReplacements = ErrorKind("too many potential replacements")
	ErrSpendsConflictingTx = ErrorKind("bad-txns-spends-conflicting-tx")
)

// RejectError explains why a transaction was refused: a pool reason and,
// when a consensus rule was broken, the rule error. errors.Is matches both
// the pool kind and the consensus kind.
type RejectError struct {
	Kind ErrorKind
	Rule error // a *consensus.RuleError, or nil
	Msg  string
}

// Error returns the explanation.
func (e *RejectError) Error() string { return e.Msg }

// Unwrap returns the kind and the rule error.
func (e *RejectError) Unwrap() []error {
	if e.Rule != nil {
		return []error{e.Kind, e.Rule}
	}
	return []error{e.Kind}
}

func reject(kind ErrorKind, format string, args ...any) error {
	return &RejectError{Kind: kind, Msg: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

// fromRule classifies a consensus rule error.
func fromRule(err error) error {
	kind := ErrInvalid
	switch {
	case errors.Is(err, consensus.ErrTxTooBig):
		kind = ErrTooLarge
	case errors.Is(err, consensus.ErrNonFinal):
		kind = ErrNonFinal
	case errors.Is(err, consensus.ErrImmatureSpend):
		kind = ErrImmature
	case errors.Is(err, consensus.ErrMissingInput):
		kind = ErrMissingInputs
	case errors.Is(err, consensus.ErrBadSignature), errors.Is(err, consensus.ErrHighS),
		errors.Is(err, consensus.ErrSignatureRange), errors.Is(err, consensus.ErrBadPubKey),
		errors.Is(err, consensus.ErrWrongPubKey):
		kind = ErrBadSig
	}
	return &RejectError{Kind: kind, Rule: err, Msg: string(kind) + ": " + err.Error()}
}

// meanings gives each pool kind its consensus.Meaning when no rule error
// explains the refusal; a test fails if a kind lacks an entry. Policy
// refusals are never the sender's fault.
var meanings = map[ErrorKind]consensus.Meaning{
	ErrAlreadyKnown:  {},
	ErrConflict:      {},
	ErrLowFee:        {},
	ErrTooLarge:      {},
	ErrNonFinal:      {RetryLater: true, DependsOnState: true},
	ErrImmature:      {RetryLater: true, DependsOnState: true},
	ErrBadSig:        {PeerFault: true},
	ErrMissingInputs: {RetryLater: true, DependsOnState: true},
	ErrInvalid:       {PeerFault: true},
	ErrCoinbase:      {PeerFault: true}, // a coinbase is never valid outside a block
	ErrPoolFull:      {},
	ErrTooLongChain:  {RetryLater: true},
	// A replacement refused is policy: the sender may pay more and retry.
	ErrInsufficientFee:     {},
	ErrTooManyReplacements: {},
	ErrSpendsConflictingTx: {},
}

// Classify implements consensus.Classifier.
func (k ErrorKind) Classify() (string, consensus.Meaning) { return string(k), meanings[k] }

// Classify implements consensus.Classifier. A refusal that a consensus rule
// explains means what the rule means for a loose transaction: the sender
// is at fault only when the rule does not depend on our chain and pool.
func (e *RejectError) Classify() (string, consensus.Meaning) {
	_, m, ok := consensus.Classify(e.Rule)
	if !ok {
		m = meanings[e.Kind]
	}
	if m.DependsOnState {
		m.PeerFault = false
		m.RetryLater = true
	}
	return string(e.Kind), m
}

// IsProvablyInvalid reports whether err shows the transaction breaks a
// consensus rule whatever the chain state: such a sender may be punished.
// Missing inputs, immaturity, lock time and pool policy depend on state or
// taste and are never held against a peer.
func IsProvablyInvalid(err error) bool {
	var re *RejectError
	if !errors.As(err, &re) || re.Rule == nil {
		return false
	}
	_, m := re.Classify()
	return m.PeerFault
}
