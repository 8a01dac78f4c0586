package chain

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wire"
)

// replayView rebuilds the best chain from events alone, as a subscriber
// (mempool, indexes, p2p) does, and records the first event that does not
// fit: a connect whose parent is not the view's tip, or a disconnect of a
// block that is not the view's tip.
type replayView struct {
	mu  sync.Mutex
	ids []wire.Hash
	bad error
	rng *rand.Rand
}

func (v *replayView) handle(events []Event) {
	// A slow subscriber widens the window in which a later change could
	// overtake this one.
	v.mu.Lock()
	pause := v.rng.IntN(3) == 0
	v.mu.Unlock()
	if pause {
		time.Sleep(200 * time.Microsecond)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ev := range events {
		if v.bad != nil {
			return
		}
		tip := v.ids[len(v.ids)-1]
		switch ev.Kind {
		case BlockConnected:
			if ev.Block.Header.PrevBlock != tip || ev.Height != uint64(len(v.ids)) {
				v.bad = fmt.Errorf("connect of %s at %d on view tip %s at %d", ev.ID, ev.Height, tip, len(v.ids)-1)
				return
			}
			v.ids = append(v.ids, ev.ID)
		case BlockDisconnected:
			if ev.ID != tip {
				v.bad = fmt.Errorf("disconnect of %s at %d, view tip %s at %d", ev.ID, ev.Height, tip, len(v.ids)-1)
				return
			}
			v.ids = v.ids[:len(v.ids)-1]
		}
	}
}

// TestEventsInCommitOrder processes blocks of two competing branches from
// four goroutines at once (with a reorganization and orphans adopted on the
// way), and checks that every subscriber's view, replayed
// from the events alone, ends at the chain's real best chain.
func TestEventsInCommitOrder(t *testing.T) {
	p, g, c := memoryChain(t)
	views := make([]*replayView, 3)
	for i := range views {
		views[i] = &replayView{ids: []wire.Hash{p.GenesisID}, rng: rand.New(rand.NewPCG(uint64(i), 5))}
		c.Subscribe(views[i].handle)
	}
	build := func(from testgen.Parent, n int) []*wire.Block {
		var out []*wire.Block
		branch := from.Height // tells the branches' blocks apart
		for range n {
			b := g.Block(from, nil, func(b *wire.Block) { b.Header.Time += branch % 7 })
			out = append(out, b)
			from = testgen.ParentOf(b, from.Height+1)
		}
		return out
	}
	// Two branches, each dealt round-robin to the goroutines, so blocks
	// often arrive before their parents and the branch that forks at 150
	// overtakes the first one while it is still growing.
	a := build(g.Genesis(), 200)
	b := build(testgen.ParentOf(a[149], 150), 70)
	all := make([][]*wire.Block, 4)
	for k := range max(len(a), len(b)) {
		for _, br := range [][]*wire.Block{a, b} {
			if k < len(br) {
				all[k%4] = append(all[k%4], br[k])
			}
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, seq := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, blk := range seq {
				if _, err := c.ProcessBlock(blk); err != nil && err != ErrDuplicate && err != ErrOrphan {
					t.Errorf("goroutine %d: %v", i, err)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	tip := c.Tip()
	c.process.Lock()
	best := c.bestCandidate()
	c.process.Unlock()
	if tip.ID != best.id {
		t.Fatalf("tip at %d is not the best stored block (at %d)", tip.Height, best.height)
	}
	for i, v := range views {
		if v.bad != nil {
			t.Fatalf("subscriber %d: %v", i, v.bad)
		}
		if uint64(len(v.ids)) != tip.Height+1 {
			t.Fatalf("subscriber %d replays to height %d, chain tip at %d", i, len(v.ids)-1, tip.Height)
		}
		for h, id := range v.ids {
			if real, _ := c.IDAt(uint64(h)); real != id {
				t.Fatalf("subscriber %d: block at %d differs from the chain's", i, h)
			}
		}
	}
}
