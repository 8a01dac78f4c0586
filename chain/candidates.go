package chain

import "container/heap"

// candidates holds the stored blocks that may become the best tip, ordered
// by cumulative work (most first), then by arrival (first seen first). It
// replaces a scan of the whole index: each operation costs O(log size)
// whatever the length of the chain, and the size stays near the number of
// competing branch tips. Guarded by the chain's process mutex.
//
// Invariant: every stored block that is not invalid, has at least the
// tip's work and is not an ancestor of the tip either is in the set or has
// a descendant in it that is not invalid. So:
//   - a stored block joins when it has at least the tip's work, and its
//     parent leaves (the child has more work);
//   - a block found invalid brings its parent back;
//   - a disconnected block joins again (it may have to be the tip again
//     if the branch that replaced it fails);
//   - blocks that reach the top with less work than the tip, or invalid,
//     leave when best looks.
type candidates struct {
	h candHeap
}

type candHeap []*node

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	if c := h[i].work.Cmp(h[j].work); c != 0 {
		return c > 0
	}
	return h[i].seq < h[j].seq
}
func (h candHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].candIdx = i
	h[j].candIdx = j
}
func (h *candHeap) Push(x any) {
	n := x.(*node)
	n.candIdx = len(*h)
	*h = append(*h, n)
}
func (h *candHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	n.candIdx = -1
	return n
}

// add makes n a candidate (once) if it is stored and not invalid.
func (s *candidates) add(n *node) {
	if n.candIdx >= 0 || n.status&statusInvalid != 0 || !n.hasData {
		return
	}
	heap.Push(&s.h, n)
}

// remove takes n out of the set, if it is in.
func (s *candidates) remove(n *node) {
	if n.candIdx >= 0 {
		heap.Remove(&s.h, n.candIdx)
	}
}

// best returns the candidate with the most work (first seen on a tie),
// dropping candidates on the way that are invalid or have less work than
// tip.
func (s *candidates) best(tip *node) *node {
	for len(s.h) > 0 {
		top := s.h[0]
		if top != tip && (top.status&statusInvalid != 0 || top.work.Cmp(tip.work) < 0) {
			heap.Pop(&s.h)
			continue
		}
		return top
	}
	return nil
}

func (s *candidates) len() int { return len(s.h) }
