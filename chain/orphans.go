package chain

import (
	"time"

	"tally/wire"
)

// orphanTTL is how long a block with an unknown parent waits.
const orphanTTL = 20 * time.Minute

type orphan struct {
	block *wire.Block
	added time.Time
	seq   uint64
}

// orphanPool holds blocks whose parent is unknown, bounded in count and
// age; the oldest goes first when it is full. Guarded by the chain's
// process mutex.
type orphanPool struct {
	max    int
	seq    uint64
	byID   map[wire.Hash]*orphan
	byPrev map[wire.Hash][]wire.Hash
}

func newOrphanPool(max int) *orphanPool {
	return &orphanPool{max: max, byID: make(map[wire.Hash]*orphan), byPrev: make(map[wire.Hash][]wire.Hash)}
}

func (p *orphanPool) has(id wire.Hash) bool { _, ok := p.byID[id]; return ok }

func (p *orphanPool) add(b *wire.Block, id wire.Hash, now time.Time) {
	for oid, o := range p.byID {
		if now.Sub(o.added) > orphanTTL {
			p.remove(oid)
		}
	}
	for len(p.byID) >= p.max {
		var oldest wire.Hash
		var oldSeq uint64 = ^uint64(0)
		for oid, o := range p.byID {
			if o.seq < oldSeq {
				oldest, oldSeq = oid, o.seq
			}
		}
		p.remove(oldest)
	}
	p.seq++
	p.byID[id] = &orphan{block: b, added: now, seq: p.seq}
	p.byPrev[b.Header.PrevBlock] = append(p.byPrev[b.Header.PrevBlock], id)
}

func (p *orphanPool) remove(id wire.Hash) {
	o, ok := p.byID[id]
	if !ok {
		return
	}
	delete(p.byID, id)
	prev := o.block.Header.PrevBlock
	ids := p.byPrev[prev]
	for i, x := range ids {
		if x == id {
			ids = append(ids[:i], ids[i+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(p.byPrev, prev)
	} else {
		p.byPrev[prev] = ids
	}
}

// takeChildren removes and returns the orphans whose parent is prev.
func (p *orphanPool) takeChildren(prev wire.Hash) []*wire.Block {
	ids := p.byPrev[prev]
	out := make([]*wire.Block, 0, len(ids))
	for _, id := range append([]wire.Hash(nil), ids...) {
		out = append(out, p.byID[id].block)
		p.remove(id)
	}
	return out
}

func (p *orphanPool) len() int { return len(p.byID) }

// OrphanRoot returns the earliest known ancestor id missing for an orphan
// chain ending at id (the block to ask peers for), if id is an orphan.
func (c *Chain) OrphanRoot(id wire.Hash) (wire.Hash, bool) {
	c.process.Lock()
	defer c.process.Unlock()
	o, ok := c.orphans.byID[id]
	if !ok {
		return wire.Hash{}, false
	}
	for {
		parent, ok := c.orphans.byID[o.block.Header.PrevBlock]
		if !ok {
			return o.block.Header.PrevBlock, true
		}
		o = parent
	}
}
