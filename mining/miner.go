// Package mining turns mempool templates into blocks: a CPU miner on all
// cores that starts over when the tip changes, and Generate for mining a
// number of blocks on demand (generatetoaddress). Submitting a found block
// is the caller's job (chain processing and relay).
package mining

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/mempool"
	"tally/wire"
)

// Config configures a Miner.
type Config struct {
	Chain *chain.Chain
	Pool  *mempool.Pool
	PKH   [20]byte
	// Submit hands a solved block to the node; its error is logged by the
	// caller and mining goes on.
	Submit func(*wire.Block) error
	// Workers defaults to GOMAXPROCS.
	Workers int
	// MinInterval spaces blocks at least this far apart (dev mode mines
	// "a block every second or so" although its target is trivial).
	MinInterval time.Duration
	// Refresh rebuilds the template this often to take new transactions.
	Refresh time.Duration
	Now     func() time.Time
}

// Miner is a CPU miner.
type Miner struct {
	cfg    Config
	extra  atomic.Uint64
	Hashes atomic.Uint64 // headers hashed, for hash-rate reporting
}

// New returns a miner.
func New(cfg Config) *Miner {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Miner{cfg: cfg}
}

// Run mines until ctx is done and returns nil then; the node runs it as
// one of its services. Every worker goroutine has returned when Run does.
func (m *Miner) Run(ctx context.Context) error {
	var last time.Time
	for ctx.Err() == nil {
		if wait := m.cfg.MinInterval - time.Since(last); m.cfg.MinInterval > 0 && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		b := m.solveOne(ctx, m.cfg.PKH, m.cfg.Refresh)
		if b == nil {
			continue
		}
		last = time.Now()
		_ = m.cfg.Submit(b)
	}
	return nil
}

// Generate mines n blocks to pkh on the current tip, submitting each, and
// returns their ids. It stops early if ctx ends or a submit fails.
func (m *Miner) Generate(ctx context.Context, n int, pkh [20]byte) ([]wire.Hash, error) {
	var ids []wire.Hash
	for len(ids) < n {
		b := m.solveOne(ctx, pkh, 0)
		if b == nil {
			if err := ctx.Err(); err != nil {
				return ids, err
			}
			continue
		}
		if err := m.cfg.Submit(b); err != nil {
			return ids, err
		}
		ids = append(ids, b.BlockID())
	}
	return ids, nil
}

// solveOne builds a template and searches nonces on all workers until one
// solves it, the tip changes, the refresh period passes (if > 0) or ctx
// ends. It returns nil when it gave up.
func (m *Miner) solveOne(ctx context.Context, pkh [20]byte, refresh time.Duration) *wire.Block {
	tmpl := m.cfg.Pool.NewTemplate(pkh, m.cfg.Now(), m.extra.Add(1))
	b := tmpl.Block()
	// The target as 32 big-endian bytes, so each hash is compared without
	// allocating (template bits are ASERT's, never above the pow limit).
	var target [32]byte
	consensus.CompactToBig(b.Header.Bits).FillBytes(target[:])
	tipID := b.Header.PrevBlock
	var deadline time.Time
	if refresh > 0 {
		deadline = time.Now().Add(refresh)
	}
	var (
		found atomic.Pointer[wire.Header]
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := 0; w < m.cfg.Workers; w++ {
		wg.Add(1)
		go func(start uint64) {
			defer wg.Done()
			h := b.Header
			h.Nonce = start
			stride := uint64(m.cfg.Workers)
			for i := 0; ; i++ {
				if i%4096 == 0 && i > 0 {
					m.Hashes.Add(4096)
					if stop.Load() || ctx.Err() != nil || m.cfg.Chain.Tip().ID != tipID ||
						(!deadline.IsZero() && time.Now().After(deadline)) {
						stop.Store(true)
						return
					}
				}
				if id := h.BlockID(); bytes.Compare(id[:], target[:]) <= 0 {
					hh := h
					found.CompareAndSwap(nil, &hh)
					stop.Store(true)
					return
				}
				h.Nonce += stride
			}
		}(uint64(w))
	}
	wg.Wait()
	h := found.Load()
	if h == nil {
		return nil
	}
	b.Header = *h
	return b
}
