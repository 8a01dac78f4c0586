package mempool

import (
	"sort"
	"sync"
)

// estimatorBlocks is how many recent blocks the fee estimator remembers.
const estimatorBlocks = 100

// estimator remembers the fee rates of pool transactions that recent
// blocks confirmed.
type estimator struct {
	mu     sync.Mutex
	blocks [][]float64 // newest last
}

func newEstimator() *estimator { return &estimator{} }

func (s *estimator) recordBlock(height uint64, mined []*Entry) {
	rates := make([]float64, len(mined))
	for i, e := range mined {
		rates[i] = e.FeeRate()
	}
	s.mu.Lock()
	s.blocks = append(s.blocks, rates)
	if len(s.blocks) > estimatorBlocks {
		s.blocks = s.blocks[1:]
	}
	s.mu.Unlock()
}

// minSamples is the fewest confirmed transactions an estimate rests on.
const minSamples = 10

// EstimateFee returns a fee rate (base units per byte) that recent blocks
// confirmed for a transaction wanting confirmation within target blocks:
// over the fee rates of pool transactions confirmed in the last
// max(6, 2*target) blocks, the percentile 100 - 10*target (at least the
// 10th). A lower target asks for a higher percentile. It is never below
// the minimum relay fee. ok is false when fewer than 10 such transactions
// were seen; then the relay minimum is returned.
func (p *Pool) EstimateFee(target int) (rate uint64, ok bool) {
	if target < 1 {
		target = 1
	}
	window := max(6, 2*target)
	s := p.est
	s.mu.Lock()
	var rates []float64
	for i := len(s.blocks) - 1; i >= 0 && len(s.blocks)-i <= window; i-- {
		rates = append(rates, s.blocks[i]...)
	}
	s.mu.Unlock()
	if len(rates) < minSamples {
		return p.cfg.MinRelayFee, false
	}
	sort.Float64s(rates)
	pct := max(10, 100-10*target)
	r := uint64(rates[(len(rates)-1)*pct/100] + 0.999999)
	return max(r, p.cfg.MinRelayFee), true
}
