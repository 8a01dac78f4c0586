package node

import (
	"context"
	"fmt"
	"time"
)

// Defaults of the log reporters' intervals (Config.ProgressInterval and
// Config.NoPeersInterval).
const (
	// DefaultProgressInterval is how often initial sync logs its progress.
	DefaultProgressInterval = 5 * time.Second
	// DefaultNoPeersInterval is how long the node may have no peers
	// before it warns, and how often it warns again.
	DefaultNoPeersInterval = 2 * time.Minute
)

// tipRecent reports whether the tip is recent (within 24 target spacings,
// at least an hour): the node's view of "caught up".
func (n *Node) tipRecent() (bool, string) {
	tip := n.chain.Tip()
	age := time.Since(time.Unix(int64(tip.Header.Time), 0))
	limit := max(time.Duration(n.params.TargetSpacing)*24*time.Second, time.Hour)
	if tip.Height == 0 || age > limit {
		return false, fmt.Sprintf("tip at height %d is %s old", tip.Height, age.Round(time.Second))
	}
	return true, ""
}

// initialSync reports whether the node is catching up: it is
// downloading blocks from peers, or (except on a dev network, which mines
// its own blocks) its tip is old.
func (n *Node) initialSync() bool {
	if n.p2p.Syncing() {
		return true
	}
	if n.cfg.Dev {
		return false
	}
	ok, _ := n.tipRecent()
	return !ok
}

// syncTarget returns the best height a peer announced.
func (n *Node) syncTarget() uint64 {
	var best uint64
	for _, p := range n.p2p.Peers() {
		best = max(best, p.Height)
	}
	return best
}

// reportProgress logs a progress line every Config.ProgressInterval while
// the node is in initial sync and its tip moves: height, percent, blocks
// per second and the time left, measured against the best height peers
// announced (or, before one did, the time since genesis).
func (n *Node) reportProgress(ctx context.Context) error {
	t := time.NewTicker(n.cfg.ProgressInterval)
	defer t.Stop()
	last, lastAt := n.chain.Tip().Height, time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		tip, now := n.chain.Tip(), time.Now()
		if !n.initialSync() || tip.Height == last {
			last, lastAt = tip.Height, now
			continue
		}
		rate := float64(tip.Height-last) / now.Sub(lastAt).Seconds()
		last, lastAt = tip.Height, now
		var pct, remaining float64
		if target := n.syncTarget(); target > tip.Height {
			pct = 100 * float64(tip.Height) / float64(target)
			remaining = float64(target - tip.Height)
		} else {
			// Blocks still to come, at one per target spacing since the
			// tip's time.
			g, tipTime := int64(n.params.GenesisTime), int64(tip.Header.Time)
			pct = 100
			if now.Unix() > g {
				pct = min(100, 100*float64(tipTime-g)/float64(now.Unix()-g))
			}
			remaining = max(0, float64(now.Unix()-tipTime)/float64(n.params.TargetSpacing))
		}
		eta := "unknown"
		if rate > 0 {
			eta = (time.Duration(remaining/rate) * time.Second).Round(time.Second).String()
		}
		n.log.Info("syncing", "height", tip.Height, "percent", fmt.Sprintf("%.2f", pct),
			"blocks_per_s", fmt.Sprintf("%.1f", rate), "eta", eta)
	}
}

// watchPeers warns while the node has no peers, every
// Config.NoPeersInterval.
func (n *Node) watchPeers(ctx context.Context) error {
	t := time.NewTicker(n.cfg.NoPeersInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n.p2p.Count() == 0 {
			n.log.Warn("no peers: the node cannot sync or relay; add one with --bootstrap MULTIADDR or the addnode RPC (docs/operations.md)",
				"height", n.chain.Tip().Height)
		}
	}
}
