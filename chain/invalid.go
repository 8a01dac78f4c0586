package chain

import (
	"math/big"

	"tally/internal/bounded"
	"tally/wire"
)

// maxKnownInvalid bounds the in-memory set of invalid headers that are
// not in the index: enough to answer a peer that repeats itself at once,
// while an attacker who mines invalid headers only evicts older entries.
const maxKnownInvalid = 20_000

// invalidHeader is a header known to break a rule, kept in memory only.
type invalidHeader struct {
	header wire.Header
	height uint64
	work   *big.Int
}

// knownInvalid is a bounded set of invalid headers, oldest evicted first.
// Headers from the network that break a rule are remembered here instead
// of in the index and the database (SPEC section 4: invalid headers are
// not persisted), so they cost us neither disk nor index size. Guarded by
// the chain's readMu (written under the process mutex too).
type knownInvalid struct {
	byID *bounded.Map[wire.Hash, invalidHeader]
}

func newKnownInvalid() *knownInvalid {
	return &knownInvalid{byID: bounded.New[wire.Hash, invalidHeader](maxKnownInvalid)}
}

func (k *knownInvalid) add(id wire.Hash, h invalidHeader) { k.byID.Add(id, h) }

func (k *knownInvalid) get(id wire.Hash) (invalidHeader, bool) { return k.byID.Get(id) }

func (k *knownInvalid) len() int { return k.byID.Len() }
