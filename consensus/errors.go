package consensus

import (
	"errors"
	"fmt"
	"slices"
)

// ErrorKind identifies a consensus rule. Its string is the short reason
// submitblock reports (BIP 22 style). A RuleError unwraps to its kind, so
// callers match rules with errors.Is(err, ErrBadMerkleRoot).
type ErrorKind string

// Error returns the kind's reason string.
func (k ErrorKind) Error() string { return string(k) }

// Header rules.
const (
	ErrBadVersion   = ErrorKind("bad-version")
	ErrBadTarget    = ErrorKind("bad-target")
	ErrBadPoW       = ErrorKind("high-hash")
	ErrBadBits      = ErrorKind("bad-diffbits")
	ErrTimeTooOld   = ErrorKind("time-too-old")
	ErrTimeTooNew   = ErrorKind("time-too-new")
	ErrBadPrevBlock = ErrorKind("bad-prevblk")
)

// Block rules.
const (
	ErrNoTxs              = ErrorKind("bad-blk-notx")
	ErrBlockTooBig        = ErrorKind("bad-blk-length")
	ErrFirstTxNotCoinbase = ErrorKind("bad-cb-missing")
	ErrMultipleCoinbases  = ErrorKind("bad-cb-multiple")
	ErrBadCoinbaseHeight  = ErrorKind("bad-cb-height")
	ErrBadCoinbaseValue   = ErrorKind("bad-cb-amount")
	ErrBadMerkleRoot      = ErrorKind("bad-txnmrklroot")
	ErrDuplicateTx        = ErrorKind("bad-txns-duplicate")
	ErrOverwriteTx        = ErrorKind("bad-txns-BIP30")
	ErrDoubleSpend        = ErrorKind("bad-txns-double-spend")
)

// Outcomes of processing that are not rule violations. They are kinds too,
// so that their meaning sits in the same table as the rules'.
const (
	// ErrDuplicate: the block or transaction is already known.
	ErrDuplicate = ErrorKind("duplicate")
	// ErrOrphan: the block's parent is unknown (BIP 22's "orphan").
	ErrOrphan = ErrorKind("orphan")
	// ErrKnownInvalid: the block is already known to be invalid, or
	// descends from one.
	ErrKnownInvalid = ErrorKind("duplicate-invalid")
	// ErrLowWork: the block or header chain has too little work to be
	// worth storing now (SPEC section 4).
	ErrLowWork = ErrorKind("low-work")
	// ErrMalformed: the bytes are not the canonical encoding of a block or
	// transaction.
	ErrMalformed = ErrorKind("malformed")
	// ErrNotSynced: the node is too far behind to judge the data.
	ErrNotSynced = ErrorKind("not-synced")
)

// Transaction rules.
const (
	ErrBadTxVersion     = ErrorKind("bad-txns-version")
	ErrNoInputs         = ErrorKind("bad-txns-vin-empty")
	ErrNoOutputs        = ErrorKind("bad-txns-vout-empty")
	ErrTxTooBig         = ErrorKind("bad-txns-oversize")
	ErrDuplicateInput   = ErrorKind("bad-txns-inputs-duplicate")
	ErrBadOutputValue   = ErrorKind("bad-txns-vout-amount")
	ErrOutputsOverflow  = ErrorKind("bad-txns-txouttotal-toolarge")
	ErrInputsOverflow   = ErrorKind("bad-txns-inputvalues-outofrange")
	ErrSpendTooMuch     = ErrorKind("bad-txns-in-belowout")
	ErrMissingInput     = ErrorKind("bad-txns-inputs-missingorspent")
	ErrImmatureSpend    = ErrorKind("bad-txns-premature-spend-of-coinbase")
	ErrNonFinal         = ErrorKind("bad-txns-nonfinal")
	ErrBadCoinbaseExtra = ErrorKind("bad-cb-extra")
	ErrCoinbaseLockTime = ErrorKind("bad-cb-locktime")
	ErrMemoTooLong      = ErrorKind("bad-txns-memo-toolong")
	ErrWrongPubKey      = ErrorKind("bad-txns-pubkey-mismatch")
	ErrBadPubKey        = ErrorKind("bad-txns-pubkey")
	ErrBadSignature     = ErrorKind("bad-txns-sig")
	ErrHighS            = ErrorKind("bad-txns-sig-highs")
	ErrSignatureRange   = ErrorKind("bad-txns-sig-range")
)

// RuleError is a violation of a consensus rule.
type RuleError struct {
	Kind        ErrorKind
	Description string
}

// Error returns the description.
func (e *RuleError) Error() string { return e.Description }

// Unwrap returns the kind, so errors.Is matches it.
func (e *RuleError) Unwrap() error { return e.Kind }

func ruleErr(kind ErrorKind, format string, args ...any) error {
	return &RuleError{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

// Meaning is what an error kind means to the code that handles it. The
// chain's invalid marking, the gossip verdicts, the syncer, the mempool and
// the light client all ask the kind (Classify) instead of keeping their own
// switch over kinds.
type Meaning struct {
	// MarksInvalid: a block failing with this kind is invalid for good,
	// because its header commits to the violation; mark it and its
	// descendants. A body that does not match its header, a block from the
	// future and a storage error never mark a block.
	MarksInvalid bool
	// PeerFault: a block failing with this kind is provably invalid
	// whatever our state and clock, so the peer that sent it as valid is
	// at fault and may be penalized.
	PeerFault bool
	// RetryLater: the same data may pass later (our clock catches up, a
	// parent arrives, we finish syncing): keep it or ask again, never
	// penalize.
	RetryLater bool
	// BodyMismatch: the body does not match its header (or does not
	// decode): whoever sent the body is at fault, not the header chain,
	// and the id stays unmarked so the genuine body can still arrive.
	BodyMismatch bool
	// DependsOnState: for a loose transaction the verdict depends on our
	// chain and pool (missing or immature inputs, lock time, a txid still
	// unspent), so its sender is not at fault; a block breaking the same
	// rule is still invalid.
	DependsOnState bool
}

// meanings is the one table of what every kind means. A test fails if a
// kind declared in this file has no entry.
var meanings = map[ErrorKind]Meaning{
	// Header rules: the header commits to them, and anyone can check them.
	ErrBadVersion:   {MarksInvalid: true, PeerFault: true},
	ErrBadTarget:    {MarksInvalid: true, PeerFault: true},
	ErrBadPoW:       {MarksInvalid: true, PeerFault: true},
	ErrBadBits:      {MarksInvalid: true, PeerFault: true},
	ErrTimeTooOld:   {MarksInvalid: true, PeerFault: true},
	ErrTimeTooNew:   {RetryLater: true}, // deferred: valid once our clock catches up; clocks differ
	ErrBadPrevBlock: {MarksInvalid: true, PeerFault: true},

	// Block rules.
	ErrNoTxs:              {MarksInvalid: true, PeerFault: true},
	ErrBlockTooBig:        {MarksInvalid: true, PeerFault: true},
	ErrFirstTxNotCoinbase: {MarksInvalid: true, PeerFault: true},
	ErrMultipleCoinbases:  {MarksInvalid: true, PeerFault: true},
	ErrBadCoinbaseHeight:  {MarksInvalid: true, PeerFault: true},
	ErrBadCoinbaseValue:   {MarksInvalid: true, PeerFault: true},
	ErrBadMerkleRoot:      {PeerFault: true, BodyMismatch: true}, // the body does not match its header: the genuine body may still come
	ErrDuplicateTx:        {MarksInvalid: true, PeerFault: true},
	ErrOverwriteTx:        {MarksInvalid: true, PeerFault: true, DependsOnState: true},
	ErrDoubleSpend:        {MarksInvalid: true, PeerFault: true},

	// Outcomes.
	ErrDuplicate:    {},
	ErrOrphan:       {RetryLater: true},
	ErrKnownInvalid: {PeerFault: true}, // already marked; relaying it is relaying invalid data
	ErrLowWork:      {},                // honest stale blocks are not a fault
	ErrMalformed:    {PeerFault: true, BodyMismatch: true},
	ErrNotSynced:    {RetryLater: true},

	// Transaction rules.
	ErrBadTxVersion:     {MarksInvalid: true, PeerFault: true},
	ErrNoInputs:         {MarksInvalid: true, PeerFault: true},
	ErrNoOutputs:        {MarksInvalid: true, PeerFault: true},
	ErrTxTooBig:         {MarksInvalid: true, PeerFault: true},
	ErrDuplicateInput:   {MarksInvalid: true, PeerFault: true},
	ErrBadOutputValue:   {MarksInvalid: true, PeerFault: true},
	ErrOutputsOverflow:  {MarksInvalid: true, PeerFault: true},
	ErrInputsOverflow:   {MarksInvalid: true, PeerFault: true},
	ErrSpendTooMuch:     {MarksInvalid: true, PeerFault: true},
	ErrMissingInput:     {MarksInvalid: true, PeerFault: true, DependsOnState: true},
	ErrImmatureSpend:    {MarksInvalid: true, PeerFault: true, DependsOnState: true},
	ErrNonFinal:         {MarksInvalid: true, PeerFault: true, DependsOnState: true},
	ErrBadCoinbaseExtra: {MarksInvalid: true, PeerFault: true},
	ErrCoinbaseLockTime: {MarksInvalid: true, PeerFault: true},
	ErrMemoTooLong:      {MarksInvalid: true, PeerFault: true},
	ErrWrongPubKey:      {MarksInvalid: true, PeerFault: true},
	ErrBadPubKey:        {MarksInvalid: true, PeerFault: true},
	ErrBadSignature:     {MarksInvalid: true, PeerFault: true},
	ErrHighS:            {MarksInvalid: true, PeerFault: true},
	ErrSignatureRange:   {MarksInvalid: true, PeerFault: true},
}

// Kinds returns every kind of the meanings table, sorted (a test keeps the
// table equal to the kinds this file declares).
func Kinds() []ErrorKind {
	out := make([]ErrorKind, 0, len(meanings))
	for k := range meanings {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Meaning returns the kind's entry in the table. A kind missing from it (a
// bug the table test catches) means nothing: no marking, no fault.
func (k ErrorKind) Meaning() Meaning { return meanings[k] }

// MarksInvalid reports whether a block failing with this kind is marked
// invalid by id (see Meaning).
func (k ErrorKind) MarksInvalid() bool { return meanings[k].MarksInvalid }

// Classify implements Classifier.
func (k ErrorKind) Classify() (string, Meaning) { return string(k), meanings[k] }

// Classify implements Classifier: a rule error means what its kind means.
func (e *RuleError) Classify() (string, Meaning) { return e.Kind.Classify() }

// Classifier is an error that knows its reason string (a short label for
// replies, logs and counters) and its Meaning. ErrorKind, *RuleError and
// the mempool's refusals implement it.
type Classifier interface {
	error
	Classify() (reason string, m Meaning)
}

// Classify returns the reason and meaning of the first Classifier in err's
// chain. ok is false for an error no kind explains (storage, resources):
// that is our own fault, never a peer's and never a rule violation.
func Classify(err error) (reason string, m Meaning, ok bool) {
	var c Classifier
	if err == nil || !errors.As(err, &c) {
		return "", Meaning{}, false
	}
	reason, m = c.Classify()
	return reason, m, true
}
