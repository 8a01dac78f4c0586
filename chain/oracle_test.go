package chain

// bestCandidate returns the valid stored block with the most work (on a
// tie, the one seen first) by scanning the whole index: the oracle the
// tests hold the candidate set to.
func (c *Chain) bestCandidate() *node {
	var best *node
	for _, n := range c.index {
		if n.status&statusInvalid != 0 || !n.hasData {
			continue
		}
		if best == nil {
			best = n
			continue
		}
		switch n.work.Cmp(best.work) {
		case 1:
			best = n
		case 0:
			if n.seq < best.seq {
				best = n
			}
		}
	}
	return best
}
