package chain

import (
	"math/big"

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
	byID map[wire.Hash]invalidHeader
	ring []wire.Hash
	next int
}

func newKnownInvalid() *knownInvalid {
	return &knownInvalid{byID: make(map[wire.Hash]invalidHeader)}
}

func (k *knownInvalid) add(id wire.Hash, h invalidHeader) {
	if _, ok := k.byID[id]; ok {
		return
	}
	if len(k.ring) < maxKnownInvalid {
		k.ring = append(k.ring, id)
	} else {
		delete(k.byID, k.ring[k.next])
		k.ring[k.next] = id
		k.next = (k.next + 1) % maxKnownInvalid
	}
	k.byID[id] = h
}

func (k *knownInvalid) get(id wire.Hash) (invalidHeader, bool) {
	h, ok := k.byID[id]
	return h, ok
}

func (k *knownInvalid) len() int { return len(k.byID) }
