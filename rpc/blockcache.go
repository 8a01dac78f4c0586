package rpc

import (
	"container/list"
	"errors"
	"sync"
	"sync/atomic"
	"tally/rpc/rpcjson"
	"time"

	"tally/chain"
	"tally/wire"
)

// cachedBlock is a stored block with what the handlers derive from it.
// Blocks never change under an id, so entries never go stale.
type cachedBlock struct {
	id    wire.Hash
	block *wire.Block
	txids []wire.Hash
	raw   []byte // canonical encoding
	// verbose1 is the last getblock verbosity 1 result and the tip it
	// was computed at (confirmations and nextblockhash depend on it).
	verbose1 atomic.Pointer[encodedAt]

	treeOnce sync.Once
	levels   [][]wire.Hash // Merkle tree, leaf hashes first, root last
}

// merkleProof returns the audit path of transaction i, from the block's
// Merkle tree built once. The RFC 6962 tree is the tree that pairs nodes
// level by level and promotes an odd last node (SPEC section 2), so the
// path is the sibling at each level that has one.
func (cb *cachedBlock) merkleProof(i int) wire.MerkleProof {
	cb.treeOnce.Do(func() {
		level := make([]wire.Hash, len(cb.txids))
		for j, id := range cb.txids {
			level[j] = wire.MerkleLeaf(id)
		}
		cb.levels = append(cb.levels, level)
		for len(level) > 1 {
			next := make([]wire.Hash, 0, (len(level)+1)/2)
			for j := 0; j < len(level); j += 2 {
				if j+1 < len(level) {
					next = append(next, wire.MerkleNode(level[j], level[j+1]))
				} else {
					next = append(next, level[j])
				}
			}
			cb.levels = append(cb.levels, next)
			level = next
		}
	})
	path := []wire.Hash{}
	idx := i
	for _, level := range cb.levels[:len(cb.levels)-1] {
		if sib := idx ^ 1; sib < len(level) {
			path = append(path, level[sib])
		}
		idx >>= 1
	}
	return wire.MerkleProof{Index: uint32(i), LeafCount: uint32(len(cb.txids)), Path: path}
}

// encodedAt is a result encoded while the tip was tip.
type encodedAt struct {
	tip wire.Hash
	enc encodedResult
}

// position returns the index of txid in the block.
func (cb *cachedBlock) position(txid wire.Hash) (int, bool) {
	for i, id := range cb.txids {
		if id == txid {
			return i, true
		}
	}
	return 0, false
}

// blockCache keeps recently read blocks, bounded in bytes, so that
// getblock, getmerkleproof and getrawtransaction do not read and decode
// the same block from LevelDB again and again.
type blockCache struct {
	mu    sync.Mutex
	max   int
	used  int
	lru   *list.List // of *cachedBlock, most recent first
	index map[wire.Hash]*list.Element
}

func newBlockCache(maxBytes int) *blockCache {
	return &blockCache{max: maxBytes, lru: list.New(), index: make(map[wire.Hash]*list.Element)}
}

// cost approximates an entry's memory: the encoding, the decoded block
// (about twice as big), the txids and the Merkle tree (about twice as
// many hashes).
func (cb *cachedBlock) cost() int { return 3*len(cb.raw) + 3*32*len(cb.txids) }

func (bc *blockCache) get(id wire.Hash) (*cachedBlock, bool) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if el, ok := bc.index[id]; ok {
		bc.lru.MoveToFront(el)
		return el.Value.(*cachedBlock), true
	}
	return nil, false
}

func (bc *blockCache) add(cb *cachedBlock) {
	if cb.cost() > bc.max/4 {
		return // one huge block must not flush everything
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if _, ok := bc.index[cb.id]; ok {
		return
	}
	bc.index[cb.id] = bc.lru.PushFront(cb)
	bc.used += cb.cost()
	for bc.used > bc.max {
		el := bc.lru.Back()
		old := el.Value.(*cachedBlock)
		bc.lru.Remove(el)
		delete(bc.index, old.id)
		bc.used -= old.cost()
	}
}

// block returns the stored block id, from the cache or the chain.
func (s *Server) block(id wire.Hash) (*cachedBlock, error) {
	if cb, ok := s.blocks.get(id); ok {
		return cb, nil
	}
	b, err := s.deps.Chain.Block(id)
	if err != nil {
		if errors.Is(err, chain.ErrNotFound) {
			return nil, rpcErr(rpcjson.CodeNotFound, "Block not found")
		}
		if errors.Is(err, chain.ErrPruned) {
			return nil, rpcErr(rpcjson.CodeMisc, "Block not available (pruned data)")
		}
		return nil, err
	}
	cb := &cachedBlock{id: id, block: b, txids: b.TxIDs(), raw: b.Encode()}
	s.blocks.add(cb)
	return cb, nil
}

// tipsCache remembers the best header height (the highest chain tip not
// known invalid) for a second, since computing it walks the block index.
type tipsCache struct {
	mu      sync.Mutex
	tip     wire.Hash
	at      time.Time
	headers uint64
}

func (s *Server) headersHeight() uint64 {
	tip := s.deps.Chain.Tip()
	now := time.Now()
	s.tips.mu.Lock()
	defer s.tips.mu.Unlock()
	if s.tips.tip == tip.ID && now.Sub(s.tips.at) < time.Second {
		return s.tips.headers
	}
	h := tip.Height
	for _, t := range s.deps.Chain.ChainTips() {
		if t.Status != "invalid" && t.Height > h {
			h = t.Height
		}
	}
	s.tips.tip, s.tips.at, s.tips.headers = tip.ID, now, h
	return h
}
