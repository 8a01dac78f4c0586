package mempool

import (
	"context"
	"time"
)

// expiryInterval is how often Run looks for expired transactions.
const expiryInterval = time.Minute

// Expire drops the transactions (with their descendants) that entered the
// pool more than Config.Expiry ago, and the orphans older than
// Config.OrphanTTL, and returns how many pool transactions left.
func (p *Pool) Expire() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	cutoff := now.Add(-p.cfg.Expiry)
	var old []*Entry
	for _, k := range p.known {
		e := k.e
		if e.Added.Before(cutoff) {
			old = append(old, e)
		}
	}
	n := len(p.entries)
	for _, e := range old {
		p.remove(e, true, RemovedExpired, "waited in the pool longer than "+p.cfg.Expiry.String())
	}
	for id, o := range p.orphans {
		if now.Sub(o.added) > p.cfg.OrphanTTL {
			delete(p.orphans, id)
		}
	}
	return n - len(p.entries)
}

// Run expires old transactions every minute until ctx ends (the node
// starts it with its other services). It always returns nil.
func (p *Pool) Run(ctx context.Context) error {
	t := time.NewTicker(expiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.Expire()
		}
	}
}
