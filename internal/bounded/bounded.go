// Package bounded holds a map that keeps at most a fixed number of
// entries, forgetting the oldest added first: memory an attacker cannot
// grow by sending more.
package bounded

// Map is a map of at most Max entries. Adding past Max forgets the entry
// added longest ago. Make one with New; a nil *Map reads as empty. Not
// safe for concurrent use.
type Map[K comparable, V any] struct {
	max  int
	m    map[K]V
	ring []K // insertion order; once full, the oldest is at next
	next int
}

// New returns an empty Map holding at most max entries (max > 0).
func New[K comparable, V any](max int) *Map[K, V] {
	return &Map[K, V]{max: max, m: make(map[K]V)}
}

// Add records v under k, evicting the oldest entry when full. A key
// already present keeps its value and its place.
func (b *Map[K, V]) Add(k K, v V) {
	if _, ok := b.m[k]; ok {
		return
	}
	if len(b.ring) < b.max {
		b.ring = append(b.ring, k)
	} else {
		delete(b.m, b.ring[b.next])
		b.ring[b.next] = k
		b.next = (b.next + 1) % b.max
	}
	b.m[k] = v
}

// Get returns the value under k.
func (b *Map[K, V]) Get(k K) (V, bool) {
	if b == nil {
		var zero V
		return zero, false
	}
	v, ok := b.m[k]
	return v, ok
}

// Len returns the number of entries.
func (b *Map[K, V]) Len() int {
	if b == nil {
		return 0
	}
	return len(b.m)
}
