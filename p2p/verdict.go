package p2p

import (
	"errors"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"tally/chain"
	"tally/consensus"
	"tally/mempool"
	"tally/wire"
)

// Errors the validators raise themselves before the chain or the pool
// sees the data.
var (
	// errOversize: the message is larger than any valid block or
	// transaction can be (a consensus limit, so provably invalid).
	errOversize = errors.New("message larger than the consensus size limit")
	// errSyncing: the node is too far behind to judge the message.
	errSyncing = errors.New("not yet synced")
)

// verdict is what the network does with a message, decided from the error
// that checking it returned.
type verdict struct {
	Result pubsub.ValidationResult
	// Reason is a short label for logs and counters.
	Reason string
	// Orphan: the block's parent is unknown; sync headers from the sender.
	Orphan bool
	// OurFault: the error is ours (storage, resources); log it, never
	// punish the peer.
	OurFault bool
}

// judge maps the error from checking a gossiped block or transaction to a
// network action. It is the one place where error kinds become actions
// (STYLE point 4):
//
//   - nil: Accept (deliver and forward).
//   - provably invalid data (a consensus rule error, a malformed or
//     oversized encoding, a transaction the pool finds provably invalid, a
//     loose coinbase): Reject, which lowers the sender's gossipsub score
//     and adds to its misbehaviour points.
//   - what cannot be judged yet or is merely unwanted (duplicate, unknown
//     parent, a block from the future, missing inputs, immature or
//     non-final spends, still syncing, below fee policy, pool full, long
//     chains): Ignore, no penalty. An unknown parent also asks for a
//     header sync from the sender.
//   - anything else is our own failure (storage, a broken chain state):
//     Ignore and log; a peer is never punished for our fault.
func judge(err error) verdict {
	var rej *mempool.RejectError
	var rule *consensus.RuleError
	switch {
	case err == nil:
		return verdict{Result: pubsub.ValidationAccept, Reason: "accepted"}
	case errors.Is(err, chain.ErrDuplicate):
		return verdict{Result: pubsub.ValidationIgnore, Reason: "duplicate"}
	case errors.Is(err, chain.ErrOrphan):
		return verdict{Result: pubsub.ValidationIgnore, Reason: "orphan", Orphan: true}
	case errors.Is(err, errSyncing):
		return verdict{Result: pubsub.ValidationIgnore, Reason: "syncing"}
	case errors.Is(err, errOversize):
		return verdict{Result: pubsub.ValidationReject, Reason: "oversize"}
	case errors.Is(err, wire.ErrDecode):
		return verdict{Result: pubsub.ValidationReject, Reason: "malformed"}
	case errors.As(err, &rej):
		// The pool's verdicts come before the consensus case: a pool
		// error may wrap a rule error that depends on chain state
		// (missing inputs), which is not the sender's fault.
		if rej.Kind == mempool.ErrCoinbase || mempool.IsProvablyInvalid(err) {
			return verdict{Result: pubsub.ValidationReject, Reason: string(rej.Kind)}
		}
		return verdict{Result: pubsub.ValidationIgnore, Reason: string(rej.Kind)}
	case errors.Is(err, consensus.ErrTimeTooNew):
		// Deferred, not invalid: the same block is valid once our clock
		// catches up.
		return verdict{Result: pubsub.ValidationIgnore, Reason: string(consensus.ErrTimeTooNew)}
	case errors.As(err, &rule):
		return verdict{Result: pubsub.ValidationReject, Reason: string(rule.Kind)}
	default:
		return verdict{Result: pubsub.ValidationIgnore, Reason: "internal-error", OurFault: true}
	}
}
