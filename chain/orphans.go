package chain

import (
	"time"

	"tally/wire"
)

// orphanTTL is how long a block with an unknown parent waits.
const orphanTTL = 20 * time.Minute

type orphan struct {
	block *wire.Block
	src   Source
	size  int
	added time.Time
	seq   uint64
}

// orphanPool holds blocks whose parent is unknown. Only a body that
// matches its header (Merkle root), within the size limit and with valid
// proof of work gets in, so a mutated copy never shadows the genuine
// block. The pool is bounded in count and in bytes, and one peer may fill
// at most a quarter of either, so a peer cannot push out the orphans of
// others; the oldest go first, and none waits longer than orphanTTL.
// Guarded by the chain's process mutex.
type orphanPool struct {
	maxCount int
	maxBytes int
	seq      uint64
	bytes    int
	byID     map[wire.Hash]*orphan
	byPrev   map[wire.Hash][]wire.Hash
	byPeer   map[string]*peerShare
}

type peerShare struct {
	count, bytes int
}

func newOrphanPool(maxCount, maxBytes int) *orphanPool {
	return &orphanPool{maxCount: maxCount, maxBytes: maxBytes, byID: make(map[wire.Hash]*orphan),
		byPrev: make(map[wire.Hash][]wire.Hash), byPeer: make(map[string]*peerShare)}
}

func (p *orphanPool) has(id wire.Hash) bool { _, ok := p.byID[id]; return ok }

// add keeps b (whose body matches its header) until its parent comes.
func (p *orphanPool) add(b *wire.Block, id wire.Hash, src Source, now time.Time) {
	size := b.SerializeSize()
	if size > p.maxBytes {
		return
	}
	for oid, o := range p.byID {
		if now.Sub(o.added) > orphanTTL {
			p.remove(oid)
		}
	}
	// The peer's own oldest orphans make room for its new one first.
	for sh := p.byPeer[src.Peer]; sh != nil && sh.count > 0 &&
		(4*(sh.count+1) > p.maxCount || 4*(sh.bytes+size) > p.maxBytes); sh = p.byPeer[src.Peer] {
		p.remove(p.oldest(src.Peer, true))
	}
	for len(p.byID) > 0 && (len(p.byID)+1 > p.maxCount || p.bytes+size > p.maxBytes) {
		p.remove(p.oldest("", false))
	}
	p.seq++
	p.byID[id] = &orphan{block: b, src: src, size: size, added: now, seq: p.seq}
	p.byPrev[b.Header.PrevBlock] = append(p.byPrev[b.Header.PrevBlock], id)
	p.bytes += size
	sh := p.byPeer[src.Peer]
	if sh == nil {
		sh = &peerShare{}
		p.byPeer[src.Peer] = sh
	}
	sh.count++
	sh.bytes += size
}

// oldest returns the oldest orphan, of peer if onlyPeer. The pool is
// small (MaxOrphans), so a scan is cheap.
func (p *orphanPool) oldest(peer string, onlyPeer bool) wire.Hash {
	var oldest wire.Hash
	oldSeq := ^uint64(0)
	for oid, o := range p.byID {
		if (!onlyPeer || o.src.Peer == peer) && o.seq < oldSeq {
			oldest, oldSeq = oid, o.seq
		}
	}
	return oldest
}

func (p *orphanPool) remove(id wire.Hash) {
	o, ok := p.byID[id]
	if !ok {
		return
	}
	delete(p.byID, id)
	p.bytes -= o.size
	if sh := p.byPeer[o.src.Peer]; sh != nil {
		sh.count--
		sh.bytes -= o.size
		if sh.count == 0 {
			delete(p.byPeer, o.src.Peer)
		}
	}
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
func (p *orphanPool) takeChildren(prev wire.Hash) []*orphan {
	ids := p.byPrev[prev]
	out := make([]*orphan, 0, len(ids))
	for _, id := range append([]wire.Hash(nil), ids...) {
		out = append(out, p.byID[id])
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
