package mempool

import (
	"errors"

	"tally/chain"
	"tally/wire"
)

// HandleChainEvents updates the pool after the chain changed. Subscribe it
// with chain.Subscribe, which delivers events in commit order: until the
// pool has handled a block's events, NewTemplate waits for it rather than
// build on a pool that does not fit the block. Connected blocks take their transactions out of the pool, and
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
	tip := p.tip
	for _, ev := range events {
		if ev.Kind == chain.BlockDisconnected {
			tip = ev.Block.Header.PrevBlock
			continue
		}
		tip = ev.ID
		mined := make([]*Entry, 0, len(ev.Block.Txs)-1)
		for i, tx := range ev.Block.Txs {
			if i == 0 {
				continue
			}
			if e, ok := p.entries[ev.TxIDs[i]]; ok {
				mined = append(mined, e)
				p.drop(e, false, RemovedMined, "")
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
		p.setTip(tip)
		p.mu.Unlock()
		return
	}
	// Re-check everything against the new chain: the transactions of the
	// disconnected blocks first, then the old pool in arrival order.
	old := p.sortedBySeq()
	if p.readding == nil {
		p.readding = make(map[wire.Hash]bool)
	}
	for _, e := range old {
		p.readding[e.TxID] = true
		p.remove(e, false, "", "")
	}
	p.mu.Unlock()
	// A transaction that does not come back (and is not simply in the new
	// chain or already back in the pool) is reported as conflicted.
	readd := func(tx *wire.Tx, e *Entry) {
		_, err := p.accept(tx, "", false)
		if err == nil || errors.Is(err, ErrAlreadyKnown) && e == nil {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if e != nil && p.readding[e.TxID] {
			// It was in the pool and is not any more.
			delete(p.readding, e.TxID)
			if p.cfg.OnChange != nil {
				p.cfg.OnChange(e, RemovedReorg)
			}
		}
		if err != nil && p.cfg.OnRemove != nil && !errors.Is(err, ErrAlreadyKnown) {
			p.cfg.OnRemove(tx.TxID(), RemovedConflicted, "no longer valid after a reorganization: "+err.Error())
		}
	}
	for _, tx := range resurrect {
		readd(tx, nil)
	}
	for _, e := range old {
		readd(e.Tx, e)
	}
	// Only now does the pool fit the new tip: a template built while the
	// pool was being checked again would have left out what is still to
	// come back.
	p.mu.Lock()
	p.setTip(tip)
	p.mu.Unlock()
}

// setTip records the tip the pool has caught up with and wakes templates
// waiting for it. The caller holds p.mu for writing.
func (p *Pool) setTip(id wire.Hash) {
	if p.tip == id {
		return
	}
	p.tip = id
	close(p.tipMoved)
	p.tipMoved = make(chan struct{})
}
