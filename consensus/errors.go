package consensus

import "fmt"

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

// MarksInvalid reports whether a block failing with this kind may be marked
// invalid by id. Only violations the header commits to do: a body that does
// not match its header (bad Merkle root) and a block from the future are
// refused without marking, so the genuine or later block is still accepted.
func (k ErrorKind) MarksInvalid() bool {
	return k != ErrBadMerkleRoot && k != ErrTimeTooNew
}
