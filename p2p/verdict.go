package p2p

import (
	"errors"
	"fmt"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"tally/consensus"
)

// malformed wraps a decoding failure as the rule kind ErrMalformed, so
// that its meaning comes from the one table.
func malformed(err error) error {
	return &consensus.RuleError{Kind: consensus.ErrMalformed, Description: "malformed: " + err.Error()}
}

// oversize is the error for a message larger than any valid block or
// transaction can be (a consensus limit, so provably invalid).
func oversize(kind consensus.ErrorKind, size, limit int) error {
	return &consensus.RuleError{Kind: kind, Description: fmt.Sprintf("%s: %d-byte message, limit %d", kind, size, limit)}
}

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
// network action. It asks the error's kind what it means
// (consensus.Classify, STYLE point 4) and keeps no switch of its own:
//
//   - nil: Accept (deliver and forward).
//   - a kind whose meaning is PeerFault (provably invalid data; for a
//     transaction only when the rule does not depend on our state): Reject,
//     which lowers the sender's gossipsub score and adds to its
//     misbehaviour points.
//   - any other kind (duplicate, unknown parent, a block from the future,
//     missing inputs, still syncing, below policy): Ignore, no penalty. An
//     unknown parent also asks for a header sync from the sender.
//   - an error no kind explains is our own failure (storage, a broken chain
//     state): Ignore and log; a peer is never punished for our fault.
func judge(err error) verdict {
	if err == nil {
		return verdict{Result: pubsub.ValidationAccept, Reason: "accepted"}
	}
	reason, m, ok := consensus.Classify(err)
	switch {
	case !ok:
		return verdict{Result: pubsub.ValidationIgnore, Reason: "internal-error", OurFault: true}
	case m.PeerFault:
		return verdict{Result: pubsub.ValidationReject, Reason: reason}
	default:
		return verdict{Result: pubsub.ValidationIgnore, Reason: reason, Orphan: errors.Is(err, consensus.ErrOrphan)}
	}
}
