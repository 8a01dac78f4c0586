package spv

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"tally/consensus"
	"tally/wire"
)

// Client syncs the best header chain from its sources into its store and
// verifies payments against it.
type Client struct {
	params  *consensus.Params
	store   *Store
	sources []HeaderSource
	mu      sync.Mutex // serializes Sync and VerifyTx

	// Now is the clock for the future-time rule (time.Now if nil).
	Now func() time.Time
	// Progress, if set, is called after each accepted batch of headers.
	Progress func(source string, tip Tip)
}

// NewClient returns a client over store (of params' network) asking
// sources in order.
func NewClient(p *consensus.Params, store *Store, sources ...HeaderSource) *Client {
	return &Client{params: p, store: store, sources: sources}
}

// Store returns the client's header store.
func (c *Client) Store() *Store { return c.store }

func (c *Client) now() int64 {
	if c.Now != nil {
		return c.Now().Unix()
	}
	return time.Now().Unix()
}

// SyncResult is what one source's chain did to ours.
type SyncResult struct {
	Source   string
	Fork     uint64 // height of the last header the source's chain shares with ours
	Accepted int    // headers of the source's chain taken into ours
	Switched bool   // our chain moved to the source's branch (a reorg)
	Err      error  // why the source's chain (or the rest of it) was refused
}

// Sync asks every source in turn for its chain and keeps the one with the
// most work: a source's chain that extends ours is appended, one that
// forks from ours replaces our headers above the fork point only if its
// work there is strictly greater. Every header is verified. It returns
// one result per source, and an error only when no source could be
// synced from (every result has an error other than ErrLessWork) or the
// store could not be written.
func (c *Client) Sync(ctx context.Context) ([]SyncResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sources) == 0 {
		return nil, newErr(ErrNoSources, "nothing to sync from")
	}
	results := make([]SyncResult, len(c.sources))
	var errs []error
	ok := false
	for i, src := range c.sources {
		r := c.syncFrom(ctx, src, sourceName(src, i))
		results[i] = r
		if r.Err == nil || errors.Is(r.Err, ErrLessWork) || r.Accepted > 0 {
			ok = true
		} else {
			errs = append(errs, r.Err)
		}
		var se *storeError
		if errors.As(r.Err, &se) {
			return results, se.err
		}
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
	}
	if !ok {
		return results, errors.Join(errs...)
	}
	return results, nil
}

// storeError marks a failure to write our own store, which ends Sync.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// syncFrom syncs from one source; see Sync.
func (c *Client) syncFrom(ctx context.Context, src HeaderSource, name string) (res SyncResult) {
	res.Source = name
	defer func() {
		var e *Error
		var se *storeError
		switch {
		case res.Err == nil, errors.As(res.Err, &se), ctx.Err() != nil:
		case errors.As(res.Err, &e):
			if e.Source == "" {
				e.Source = name
			}
		default:
			res.Err = fmt.Errorf("%s: %w", name, res.Err)
		}
	}()
	fork, pending, err := c.findFork(ctx, src)
	if err != nil {
		res.Err = err
		return res
	}
	res.Fork = fork
	tipHeight := c.store.Height()
	cur := c.store.cursorAt(fork)
	ourWork := new(big.Int) // our work above fork
	if fork < tipHeight {
		ourWork = c.store.workAbove(fork)
	}
	branchStart := fork
	var branch []wire.Header
	branchWork := new(big.Int)
	// commit takes the branch into the store once it has more work than
	// what it would replace; from then on it is an extension.
	commit := func() error {
		if len(branch) == 0 || branchWork.Cmp(ourWork) <= 0 {
			return nil
		}
		if err := c.store.replace(branchStart, branch, cur, branchWork); err != nil {
			return &storeError{err}
		}
		if branchStart < tipHeight {
			res.Switched = true
		}
		res.Accepted += len(branch)
		branchStart, tipHeight = cur.height, cur.height
		branch, ourWork, branchWork = nil, new(big.Int), new(big.Int)
		if c.Progress != nil {
			c.Progress(name, c.store.Tip())
		}
		return nil
	}
	next := fork + 1
	for {
		if len(pending) == 0 {
			if err := ctx.Err(); err != nil {
				res.Err = err
				break
			}
			pending, err = src.GetHeaders(ctx, next, MaxHeadersPerRequest)
			if err != nil {
				res.Err = fmt.Errorf("getheaders %d: %w", next, err)
				break
			}
			if len(pending) > MaxHeadersPerRequest {
				res.Err = newErr(ErrBadResponse, "%d headers for a request of %d", len(pending), MaxHeadersPerRequest)
				break
			}
			if len(pending) == 0 {
				break // the source's tip
			}
		}
		now := c.now()
		var verr error
		for i := range pending {
			if _, verr = cur.next(&pending[i], now); verr != nil {
				break
			}
			branch = append(branch, pending[i])
			branchWork.Add(branchWork, consensus.CalcWork(pending[i].Bits))
		}
		next += uint64(len(pending))
		pending = nil
		if err := commit(); err != nil {
			res.Err = err
			return res
		}
		if verr != nil {
			res.Err = verr
			break
		}
	}
	if len(branch) > 0 && res.Err == nil {
		res.Err = &Error{Kind: ErrLessWork, Height: fork, HasHeight: true,
			Description: fmt.Sprintf("its branch from height %d has work %s, ours %s: keeping ours", fork, branchWork, ourWork)}
	}
	return res
}

// findFork returns the height of the last header the source's chain
// shares with ours, and any headers it already sent beyond it. The first
// request asks from our tip onwards (the common case: the source extends
// our chain); otherwise it walks back in ranges of getheaders until a
// header matches ours. The source's genesis block must be ours.
func (c *Client) findFork(ctx context.Context, src HeaderSource) (uint64, []wire.Header, error) {
	g, err := src.GetHeaders(ctx, 0, 1)
	if err != nil {
		return 0, nil, fmt.Errorf("getheaders 0: %w", err)
	}
	if len(g) != 1 || g[0].BlockID() != c.params.GenesisID {
		return 0, nil, heightErr(ErrWrongGenesis, 0, nil, "the source's genesis block is not %s's %s", c.params.Network, c.params.GenesisID)
	}
	tip := c.store.Height()
	hs, err := src.GetHeaders(ctx, tip, MaxHeadersPerRequest)
	if err != nil {
		return 0, nil, fmt.Errorf("getheaders %d: %w", tip, err)
	}
	if len(hs) > MaxHeadersPerRequest {
		return 0, nil, newErr(ErrBadResponse, "%d headers for a request of %d", len(hs), MaxHeadersPerRequest)
	}
	if len(hs) > 0 && c.matches(tip, &hs[0]) {
		return tip, hs[1:], nil
	}
	// Walk back: ranges ending just below the last height that did not
	// match. The branch to download afterwards is at least as long as
	// the distance walked, so this at most doubles the headers fetched.
	hi := tip // exclusive
	for hi > 0 {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		lo := uint64(0)
		if hi > MaxHeadersPerRequest {
			lo = hi - MaxHeadersPerRequest
		}
		hs, err := src.GetHeaders(ctx, lo, int(hi-lo))
		if err != nil {
			return 0, nil, fmt.Errorf("getheaders %d: %w", lo, err)
		}
		if len(hs) > int(hi-lo) {
			return 0, nil, newErr(ErrBadResponse, "%d headers for a request of %d", len(hs), hi-lo)
		}
		for i := len(hs) - 1; i >= 0; i-- {
			if h := lo + uint64(i); c.matches(h, &hs[i]) {
				return h, nil, nil
			}
		}
		hi = lo
	}
	return 0, nil, heightErr(ErrWrongGenesis, 0, nil, "the source's chain shares no header with ours")
}

// matches reports whether h is our header at height.
func (c *Client) matches(height uint64, h *wire.Header) bool {
	ours, ok := c.store.Header(height)
	return ok && ours == *h
}

// Confirmation says where a verified transaction is.
type Confirmation struct {
	TxID          wire.Hash
	Height        uint64    // height of the block holding it
	BlockID       wire.Hash // that block, on our most-work chain
	Confirmations uint64    // our tip height - Height + 1
	TipHeight     uint64
}

// VerifyTx asks the sources (in order, until one answers with a proof
// that holds) for a Merkle proof of txid and checks it against our header
// chain: the proof's header must be our header at its height, and the
// audit path must lead from txid to that header's Merkle root. It does
// not sync first (call Sync). Errors: ErrNotOnBestChain, ErrBadProof, or
// the sources' errors, joined.
func (c *Client) VerifyTx(ctx context.Context, txid wire.Hash) (Confirmation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sources) == 0 {
		return Confirmation{}, newErr(ErrNoSources, "nothing to ask for a proof")
	}
	var errs []error
	for i, src := range c.sources {
		name := sourceName(src, i)
		p, err := src.GetMerkleProof(ctx, txid)
		if err != nil {
			errs = append(errs, fmt.Errorf("getmerkleproof from %s: %w", name, err))
			continue
		}
		conf, err := c.checkProof(txid, p)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Source = name
			}
			errs = append(errs, err)
			continue
		}
		return conf, nil
	}
	return Confirmation{}, errors.Join(errs...)
}

// CheckProof checks a proof of txid against our header chain; see
// VerifyTx.
func (c *Client) CheckProof(txid wire.Hash, p *Proof) (Confirmation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkProof(txid, p)
}

func (c *Client) checkProof(txid wire.Hash, p *Proof) (Confirmation, error) {
	id := p.Header.BlockID()
	if p.BlockID != id {
		return Confirmation{}, heightErr(ErrBadProof, p.Height, nil, "the proof names block %s but its header is block %s", p.BlockID, id)
	}
	// c.mu keeps the store from changing between these two reads.
	tip := c.store.Tip()
	ours, ok := c.store.Header(p.Height)
	if !ok {
		return Confirmation{}, heightErr(ErrNotOnBestChain, p.Height, nil,
			"block %s is above our header chain's tip %d; sync headers and try again", id, tip.Height)
	}
	if ours != p.Header {
		return Confirmation{}, heightErr(ErrNotOnBestChain, p.Height, nil,
			"block %s is not our most-work chain's block %s at that height", id, ours.BlockID())
	}
	if err := p.Merkle.Verify(txid, ours.MerkleRoot); err != nil {
		return Confirmation{}, heightErr(ErrBadProof, p.Height, err,
			"the audit path of tx %s (index %d of %d, %d hashes) does not lead to block %s's merkle root",
			txid, p.Merkle.Index, p.Merkle.LeafCount, len(p.Merkle.Path), id)
	}
	return Confirmation{TxID: txid, Height: p.Height, BlockID: id, Confirmations: tip.Height - p.Height + 1, TipHeight: tip.Height}, nil
}
