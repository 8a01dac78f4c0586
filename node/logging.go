package node

import (
	"context"
	"fmt"
	"time"
)

// Intervals of the log reporters (variables so tests can shorten them).
var (
	// progressInterval is how often initial sync logs its progress.
	progressInterval = 5 * time.Second
	// noPeersInterval is how long the node may have no peers before it
	// warns, and how often it warns again.
	noPeersInterval = 2 * time.Minute
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

// initialSync reports whether the node is catching up with the network:
// its tip is old (a dev node mines its own blocks and never is).
func (n *Node) initialSync() bool {
	if n.cfg.Dev {
		return false
	}
	ok, _ := n.tipRecent()
	return !ok
}

// reportProgress logs a progress line every progressInterval while the
// node is in initial sync and its tip moves: height, percent of the time
// since genesis covered, blocks per second and the time left.
func (n *Node) reportProgress(ctx context.Context) error {
	t := time.NewTicker(progressInterval)
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
		g, tipTime := int64(n.params.GenesisTime), int64(tip.Header.Time)
		pct := 100.0
		if now.Unix() > g {
			pct = min(100, 100*float64(tipTime-g)/float64(now.Unix()-g))
		}
		// Blocks still to come, at one per target spacing since the tip.
		remaining := float64(now.Unix()-tipTime) / float64(n.params.TargetSpacing)
		eta := "unknown"
		if rate > 0 {
			eta = (time.Duration(remaining/rate) * time.Second).String()
		}
		n.log.Info("syncing", "height", tip.Height, "percent", fmt.Sprintf("%.2f", pct),
			"blocks_per_s", fmt.Sprintf("%.1f", rate), "eta", eta)
	}
}

// watchPeers warns while the node has no peers, every noPeersInterval.
func (n *Node) watchPeers(ctx context.Context) error {
	t := time.NewTicker(noPeersInterval)
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
