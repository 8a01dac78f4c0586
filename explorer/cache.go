package explorer

import (
	"sync"

	"tally/wire"
)

// blockCache keeps facts of blocks that never change once a block exists
// (its header, its statistics), by block hash, so that the home page asks
// the node only about blocks it has not seen. It holds at most max
// entries and starts over when full: the pages ask about recent blocks,
// which come back at once.
type blockCache[V any] struct {
	mu  sync.Mutex
	max int
	m   map[wire.Hash]V
}

func newBlockCache[V any](max int) *blockCache[V] {
	return &blockCache[V]{max: max, m: make(map[wire.Hash]V)}
}

func (c *blockCache[V]) get(id wire.Hash) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	return v, ok
}

func (c *blockCache[V]) put(id wire.Hash, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[id] = v
}
