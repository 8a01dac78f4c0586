package mempool

import "tally/wire"

// recentCap is how many transactions that left the pool (evicted,
// conflicted, dropped as invalid after a reorg) are kept for compact
// block reconstruction: a miner may still include one we dropped. Bitcoin
// Core keeps 100 such "extra" transactions; ours cost one pointer each.
const recentCap = 1024

type recentTx struct {
	txid wire.Hash
	tx   *wire.Tx
}

// recentRing is a fixed-size ring of transactions removed from the pool.
type recentRing struct {
	txs  []recentTx
	next int
}

func (r *recentRing) add(txid wire.Hash, tx *wire.Tx) {
	if len(r.txs) < recentCap {
		r.txs = append(r.txs, recentTx{txid, tx})
		return
	}
	r.txs[r.next] = recentTx{txid, tx}
	r.next = (r.next + 1) % recentCap
}

// ForEachKnownTx calls fn with every transaction the node has seen and a
// block may contain: the pool's, the orphans waiting for inputs, and the
// last transactions removed from the pool other than by being mined. It
// stops when fn returns false. fn runs under the pool's read lock and must
// not call back into the pool. Compact block reconstruction matches short
// ids against these.
func (p *Pool) ForEachKnownTx(fn func(txid wire.Hash, tx *wire.Tx) bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, k := range p.known {
		if !fn(k.txid, k.tx) {
			return
		}
	}
	for txid, o := range p.orphans {
		if !fn(txid, o.tx) {
			return
		}
	}
	for _, r := range p.recent.txs {
		if !fn(r.txid, r.tx) {
			return
		}
	}
}

// knownTx is a pool entry with its txid and transaction (Pool.known).
type knownTx struct {
	txid wire.Hash
	tx   *wire.Tx
	e    *Entry
}
