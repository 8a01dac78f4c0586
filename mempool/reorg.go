package mempool

import (
	"errors"

	"tally/chain"
	"tally/wire"
)

// HandleChainEvents updates the pool after the chain changed. Subscribe it
// with chain.Subscribe: until the pool has handled a block's events,
// NewTemplate leaves the pool's transactions out of templates on that
// block. Connected blocks take their transactions out of the pool, and
// pool transactions that now conflict with the chain leave with their
// descendants. After a reorg, the transactions of disconnected blocks come
// back (parents first) if they are still valid, and the whole pool is
// checked again against the new chain; what no longer fits the chain is
// dropped, not kept as an orphan.
func (p *Pool) HandleChainEvents(events []chain.Event) {
	var resurrect []*wire.Tx
	reorg := false
	for i := len(events) - 1; i >= 0; i-- {
		// Disconnections come tip first; walking backwards gives the
		// lowest block first, so parents come before children.
		ev := events[i]
		if ev.Kind == chain.BlockDisconnected {
			reorg = true
			resurrect = append(resurrect, ev.Block.Txs[1:]...)
		}
	}
	p.mu.Lock()
	for _, ev := range events {
		if ev.Kind == chain.BlockDisconnected {
			p.tip = ev.Block.Header.PrevBlock
			continue
		}
		p.tip = ev.ID
		var mined []*Entry
		for i, tx := range ev.Block.Txs {
			if i == 0 {
				continue
			}
			if e, ok := p.entries[ev.TxIDs[i]]; ok {
				mined = append(mined, e)
				p.remove(e, false, "", "")
				continue
			}
			for _, in := range tx.Inputs {
				if e, ok := p.spends[in.Prev]; ok {
					p.remove(e, true, RemovedConflicted, "an input was spent by "+ev.TxIDs[i].String()+" in block "+ev.ID.String())
				}
			}
		}
		p.est.recordBlock(ev.Height, mined)
	}
	if !reorg {
		p.mu.Unlock()
		return
	}
	// Re-check everything against the new chain: the transactions of the
	// disconnected blocks first, then the old pool in arrival order.
	old := p.sortedBySeq()
	for _, e := range old {
		p.remove(e, false, "", "")
	}
	p.mu.Unlock()
	// A transaction that does not come back (and is not simply in the new
	// chain or already back in the pool) is reported as conflicted.
	readd := func(tx *wire.Tx) {
		if _, err := p.accept(tx, "", false); err != nil && p.cfg.OnRemove != nil && !errors.Is(err, ErrAlreadyKnown) {
			p.mu.Lock()
			p.cfg.OnRemove(tx.TxID(), RemovedConflicted, "no longer valid after a reorganization: "+err.Error())
			p.mu.Unlock()
		}
	}
	for _, tx := range resurrect {
		readd(tx)
	}
	for _, e := range old {
		readd(e.Tx)
	}
}
