package chain

import (
	"math/big"
	"sync"
	"sync/atomic"

	"tally/wire"
)

// assumeValid is the --assumevalid state: the configured block and, once
// the syncer has checked a header chain that leads to it, the ids of that
// chain by height. A block whose id is on that chain is an ancestor of
// the assumed block (ids commit to their parents) and skips the
// signature check; every other rule still runs.
type assumeValid struct {
	id wire.Hash // configured; zero = none

	mu    sync.Mutex
	start uint64      // height of ids[0]
	ids   []wire.Hash // checked header chain ending at id
	work  *big.Int    // cumulative work at id

	skipped atomic.Uint64 // blocks connected without their signatures checked
}

// AssumeValidInfo is what getblockchaininfo reports of --assumevalid.
type AssumeValidInfo struct {
	// ID is the assumed-valid block; zero when --assumevalid is off.
	ID wire.Hash
	// Height is its height once a header chain to it is known.
	Height uint64
	// InForce: a checked header chain to it, with at least the work of
	// our tip, is known and the tip is still below it, so blocks being
	// connected skip their signature checks.
	InForce bool
	// Skipped counts the blocks connected without signature checks.
	Skipped uint64
}

// AssumeValidID returns the configured assumed-valid block (zero: none).
func (c *Chain) AssumeValidID() wire.Hash { return c.av.id }

// AssumeHeaderChain tells the chain of a header chain that the caller
// checked in full (linkage, proof of work, every header rule) and that
// ends at the assumed-valid block: ids[i] is the block at height
// start+i and work the cumulative work at the last one. It is accepted
// when it ends at the configured block and has at least the work of our
// tip; it reports whether it was.
func (c *Chain) AssumeHeaderChain(start uint64, ids []wire.Hash, work *big.Int) bool {
	if c.av.id.IsZero() || len(ids) == 0 || ids[len(ids)-1] != c.av.id || work == nil {
		return false
	}
	if work.Cmp(c.Tip().Work) < 0 {
		return false
	}
	c.av.mu.Lock()
	defer c.av.mu.Unlock()
	c.av.start, c.av.ids, c.av.work = start, append([]wire.Hash(nil), ids...), new(big.Int).Set(work)
	return true
}

// AssumeValid reports the --assumevalid state.
func (c *Chain) AssumeValid() AssumeValidInfo {
	info := AssumeValidInfo{ID: c.av.id, Skipped: c.av.skipped.Load()}
	if info.ID.IsZero() {
		return info
	}
	c.av.mu.Lock()
	known := len(c.av.ids) > 0
	if known {
		info.Height = c.av.start + uint64(len(c.av.ids)) - 1
	}
	c.av.mu.Unlock()
	if !known {
		if n, ok := c.BlockInfo(info.ID); ok {
			info.Height = n.Height
		}
		return info
	}
	info.InForce = c.Tip().Height < info.Height
	return info
}

// assumedValid reports whether the block id at height is an ancestor
// (or the block itself) of the assumed-valid block on the known header
// chain, so that its signatures need no check.
func (c *Chain) assumedValid(height uint64, id wire.Hash) bool {
	if c.av.id.IsZero() {
		return false
	}
	c.av.mu.Lock()
	defer c.av.mu.Unlock()
	if len(c.av.ids) == 0 || height < c.av.start || height-c.av.start >= uint64(len(c.av.ids)) {
		return false
	}
	if c.av.ids[height-c.av.start] != id {
		return false
	}
	c.av.skipped.Add(1)
	return true
}
