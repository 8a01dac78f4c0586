package spv

import (
	"fmt"
)

// ErrorKind identifies why the light client refused something. An *Error
// unwraps to its kind (and to the consensus rule error behind it, if any),
// so callers test with errors.Is(err, spv.ErrBadProof).
type ErrorKind string

// Error returns the kind's text.
func (k ErrorKind) Error() string { return string(k) }

// Why a header chain or a proof is refused.
const (
	// ErrWrongGenesis: a source's block at height 0 is not our network's
	// genesis block (another network, or a liar), or the store file
	// belongs to another network.
	ErrWrongGenesis = ErrorKind("wrong genesis block")
	// ErrBrokenLink: a header's previous block id is not the id of the
	// header before it.
	ErrBrokenLink = ErrorKind("broken header link")
	// ErrBadHeader: a header with an unknown version or one that does not
	// decode.
	ErrBadHeader = ErrorKind("bad header")
	// ErrBadPoW: a header whose id is above its target, or whose target is
	// invalid or above the pow limit.
	ErrBadPoW = ErrorKind("bad proof of work")
	// ErrBadDifficulty: a header whose bits differ from the ASERT rule.
	ErrBadDifficulty = ErrorKind("bad difficulty bits")
	// ErrBadTime: a header whose time is not after the median time past of
	// the 11 headers before it.
	ErrBadTime = ErrorKind("header time too old")
	// ErrTimeTooNew: a header more than max_future_seconds ahead of our
	// clock. It may become acceptable later.
	ErrTimeTooNew = ErrorKind("header time too far in the future")
	// ErrLessWork: a source's chain has no more work than ours (a tie
	// keeps the chain seen first).
	ErrLessWork = ErrorKind("chain has less work than ours")
	// ErrNotOnBestChain: a proof for a block that is not on our most-work
	// header chain (or above its tip).
	ErrNotOnBestChain = ErrorKind("block not on the most-work chain")
	// ErrBadProof: a Merkle proof that does not lead from the txid to the
	// block's Merkle root, or a proof response that contradicts itself.
	ErrBadProof = ErrorKind("bad merkle proof")
	// ErrBadResponse: a source answered something malformed (more headers
	// than asked, undecodable data).
	ErrBadResponse = ErrorKind("bad response from source")
	// ErrCorruptStore: the header file is not a header file of this
	// network.
	ErrCorruptStore = ErrorKind("header store is corrupt")
	// ErrNoSources: Sync or VerifyTx without any source.
	ErrNoSources = ErrorKind("no header sources")
)

// Error is a refusal: its kind, where it happened and what was wrong.
type Error struct {
	Kind   ErrorKind
	Source string // the source that served the data, if any
	Height uint64 // the height concerned, if HasHeight
	// HasHeight says whether Height is meaningful.
	HasHeight   bool
	Description string
	Err         error // the rule error behind it, if any
}

// Error returns "kind: [source: ][height h: ]description".
func (e *Error) Error() string {
	s := string(e.Kind)
	if e.Source != "" {
		s += " from " + e.Source
	}
	if e.HasHeight {
		s += fmt.Sprintf(" at height %d", e.Height)
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func newErr(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, args...)}
}

func heightErr(kind ErrorKind, height uint64, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Height: height, HasHeight: true, Err: cause, Description: fmt.Sprintf(format, args...)}
}
