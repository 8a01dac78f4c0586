package p2p

import (
	"context"
	"fmt"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/internal/testgen"
	"tally/mempool"
	"tally/wire"
)

// TestBansBounded: the ban list holds at most max bans; when full, the
// ban that expires first is lifted for the new one.
func TestBansBounded(t *testing.T) {
	c := newFakeClock()
	b := newBanList(time.Hour, c.Now)
	b.max = 3
	var ids []peer.ID
	for i := 0; i < 5; i++ {
		id := peer.ID(fmt.Sprintf("peer-%d", i))
		ids = append(ids, id)
		b.ban(id, "test")
		c.Advance(time.Minute)
	}
	if got := len(b.list()); got != 3 {
		t.Fatalf("%d bans kept, want 3", got)
	}
	for i, id := range ids {
		if want := i >= 2; b.banned(id) != want {
			t.Errorf("peer %d banned=%v, want %v (the oldest expire first)", i, !want, want)
		}
	}
	// Points of many identities stay bounded too.
	for i := 0; i < 20*b.max; i++ {
		b.add(peer.ID(fmt.Sprintf("noisy-%d", i)), 1, "test")
	}
	if len(b.points) > 4*b.max {
		t.Errorf("%d point records kept for %d peers", len(b.points), 20*b.max)
	}
}

// countingPool counts the transactions the validator asks it to check.
type countingPool struct {
	*fakePool
	calls int
}

func (c *countingPool) Accept(tx *wire.Tx, p string) (*mempool.Entry, error) {
	c.calls++
	return c.fakePool.Accept(tx, p)
}

// TestBannedPeerCostsNoValidation: once a peer is banned, its messages
// still queued in the gossip pipeline are dropped without being decoded
// or checked.
func TestBannedPeerCostsNoValidation(t *testing.T) {
	n, c, pool, g, blocks := fakeNode(t)
	cp := &countingPool{fakePool: pool}
	n.pool = cp
	bad := peer.ID("flooder")
	n.bans.ban(bad, "test")
	tx := g.Pay(g.GenesisSpends(), 2, 1000)
	blk := g.Block(testgen.ParentOf(blocks[len(blocks)-1], uint64(len(blocks))), nil)
	for i := 0; i < 500; i++ {
		if r := n.validateTx(context.Background(), bad, &pubsub.Message{Message: &pb.Message{Data: tx.Encode()}}); r != pubsub.ValidationIgnore {
			t.Fatalf("banned peer's tx: %v", r)
		}
		if r := n.validateBlock(context.Background(), bad, &pubsub.Message{Message: &pb.Message{Data: blk.Encode()}}); r != pubsub.ValidationIgnore {
			t.Fatalf("banned peer's block: %v", r)
		}
	}
	if cp.calls != 0 {
		t.Errorf("the pool checked %d transactions of a banned peer", cp.calls)
	}
	if c.Tip().Height != uint64(len(blocks)) {
		t.Error("a banned peer's block was processed")
	}
	if got := n.Stats().BannedDropped; got != 1000 {
		t.Errorf("%d messages counted as dropped, want 1000", got)
	}
	// The same messages from an honest peer are validated.
	if r := n.validateTx(context.Background(), "honest", &pubsub.Message{Message: &pb.Message{Data: tx.Encode()}}); r != pubsub.ValidationAccept || cp.calls != 1 {
		t.Errorf("honest tx: %v after %d checks", r, cp.calls)
	}
}

// TestSideBranchVerdict: a block stored on a side branch (header checks
// only) is ignored, not accepted: it is not forwarded, so a peer that
// would validate it fully never blames us. A block extending the best
// chain is accepted.
func TestSideBranchVerdict(t *testing.T) {
	n, c, _, g, blocks := fakeNode(t)
	tip := len(blocks)
	side := g.Block(testgen.ParentOf(blocks[tip-2], uint64(tip-1)), nil, func(b *wire.Block) { b.Header.Time += 5 })
	msg := func(b *wire.Block) *pubsub.Message { return &pubsub.Message{Message: &pb.Message{Data: b.Encode()}} }
	res := make(chan pubsub.ValidationResult)
	go func() { res <- n.validateBlock(context.Background(), "relayer", msg(side)) }()
	// It holds the message a while in case the branch becomes the best.
	waitFor(t, 5*time.Second, "the block held", func() bool {
		n.relay.mu.Lock()
		defer n.relay.mu.Unlock()
		return n.relay.heldTotal == 1
	})
	n.clock.(*fakeClock).Advance(holdBlock)
	if r := <-res; r != pubsub.ValidationIgnore {
		t.Errorf("side-branch block: %v, want Ignore", r)
	}
	if _, ok := c.BlockInfo(side.BlockID()); !ok {
		t.Fatal("the side-branch block was not stored")
	}
	next := g.Block(testgen.ParentOf(blocks[tip-1], uint64(tip)), nil)
	if r := n.validateBlock(context.Background(), "relayer", msg(next)); r != pubsub.ValidationAccept {
		t.Errorf("block on the best chain: %v, want Accept", r)
	}
	if n.bans.score("relayer") != 0 {
		t.Error("the relayer was charged points")
	}
}

// TestFairValidation: validation slots go round-robin between peers and
// to blocks before transactions, so one peer's backlog does not delay
// another's messages.
func TestFairValidation(t *testing.T) {
	f := newFairness()
	f.free = 1
	ctx := context.Background()
	if !f.acquire(ctx, "flooder", classTx) {
		t.Fatal("first slot refused")
	}
	order := make(chan string, 64)
	wait := func(p peer.ID, class int, label string) {
		go func() {
			if f.acquire(ctx, p, class) {
				order <- label
				f.release()
			}
		}()
	}
	for i := 0; i < 20; i++ {
		wait("flooder", classTx, "flood")
	}
	waitQueued := func(want int) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			f.mu.Lock()
			got := len(f.class[classTx].q["flooder"]) + len(f.class[classTx].q["honest"]) + len(f.class[classBlock].q["honest"])
			f.mu.Unlock()
			if got >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting, want %d", got, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitQueued(20)
	wait("honest", classTx, "honest-tx")
	waitQueued(21)
	wait("honest", classBlock, "honest-block")
	waitQueued(22)
	f.release()
	first, second := <-order, <-order
	if first != "honest-block" {
		t.Errorf("first slot went to %s, want the block", first)
	}
	// Round robin: the honest tx comes within the next two grants, not
	// after the flooder's 20.
	third := <-order
	if second != "honest-tx" && third != "honest-tx" {
		t.Errorf("the honest tx waited behind the flood (%s, %s)", second, third)
	}
}

// TestStallFromLastProgress (fake clock): a peer on a slow link that
// keeps delivering a block every 3 s is not flagged although its request
// is long overdue by the wall-clock rule of 4 s; once it delivers nothing
// for three of its usual gaps, its blocks are asked elsewhere.
func TestStallFromLastProgress(t *testing.T) {
	n, _, _, _, blocks := fakeNode(t)
	clk := n.clock.(*fakeClock)
	f := &fetcher{s: n.sync, hdrs: make([]pendingHdr, 8), slots: make([]slot, 8), dropped: map[peer.ID]bool{},
		peers: []*fetchPeer{{id: "slow", inflight: 1, lastRecv: clk.Now()}, {id: "other"}}}
	for i := range f.slots {
		f.slots[i] = slot{state: slotInflight, reqPeer: "slow", reqAt: clk.Now()}
	}
	// Blocks 1..4 arrive, one every 3 s; block 0 (next to connect) is
	// still on its way.
	for i := 1; i <= 4; i++ {
		clk.Advance(3 * time.Second)
		f.store(i, blocks[i], "slow")
		f.checkStall()
	}
	clk.Advance(5 * time.Second) // 17 s after the request, 5 s after the last block
	f.checkStall()
	if f.slots[0].state != slotInflight || n.Stats().SyncStalls != 0 {
		t.Fatalf("a slow peer that keeps delivering was flagged (slot %v, %d stalls)", f.slots[0].state, n.Stats().SyncStalls)
	}
	clk.Advance(5 * time.Second) // 10 s of silence: over three gaps of 3 s
	f.checkStall()
	if f.slots[0].state != slotQueued || f.slots[0].avoid != "slow" || n.Stats().SyncStalls != 1 {
		t.Fatalf("a silent peer was not flagged: slot %+v, %d stalls", f.slots[0], n.Stats().SyncStalls)
	}
}
