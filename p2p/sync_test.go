package p2p

import (
	"context"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// TestLateNodeSyncs: a node started after 500 blocks were mined catches
// up by itself through headers-first sync, fetching bodies from the two
// peers that have them.
func TestLateNodeSyncs(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 500)
	a := newTestNode(t).start()
	a.processAll(blocks)
	tip := blocks[len(blocks)-1].BlockID()
	a2 := newTestNode(t, withBootstrap(a.Addrs()...)).start()
	waitFor(t, 60*time.Second, "the second node at the tip", func() bool { return a2.chain.Tip().ID == tip })

	late := newTestNode(t, withBootstrap(a.Addrs()...)).start()
	start := time.Now()
	waitFor(t, 60*time.Second, "the late node at the tip", func() bool { return late.chain.Tip().ID == tip })
	t.Logf("synced 500 blocks in %s; stats %+v", time.Since(start), late.Stats())
	st := late.Stats()
	if st.SyncBlocks < 499 || st.SyncHeaders < 500 {
		t.Errorf("sync fetched %d blocks and %d headers, want 500 of each", st.SyncBlocks, st.SyncHeaders)
	}
	if late.Syncing() {
		waitFor(t, 5*time.Second, "sync to finish", func() bool { return !late.Syncing() })
	}
	for _, n := range []*testNode{a, a2, late} {
		if n.Banned() != 0 {
			t.Errorf("an honest node banned a peer: %v", n.BanList())
		}
	}
	// Gossip keeps it at the tip afterwards.
	waitMesh(t, []*testNode{late}, 1)
	id := a.mine()
	waitFor(t, 10*time.Second, "the next block on the late node", func() bool { return late.chain.Tip().ID == id })
}

// TestPartitionHeals: two halves mine separately, the heavier half more
// blocks; after they meet again every node is on the heavier branch with
// the same UTXO set, and the lighter branch's transactions are back in
// the mempools.
func TestPartitionHeals(t *testing.T) {
	boot := newTestNode(t).start()
	nodes := []*testNode{boot}
	for i := 0; i < 3; i++ {
		nodes = append(nodes, newTestNode(t, withBootstrap(boot.Addrs()...)).start())
	}
	waitFor(t, 60*time.Second, "a full mesh", func() bool {
		for _, n := range nodes {
			if n.Count() != 3 {
				return false
			}
		}
		return true
	})
	waitMesh(t, nodes, 3)

	// A shared history: the genesis allocation fanned out.
	g := testgen.New(devParams)
	fan := g.Pay(g.GenesisSpends(), 10, 10000)
	nodes[0].submitTx(fan)
	waitFor(t, 10*time.Second, "the fan-out everywhere", func() bool {
		for _, n := range nodes {
			if !n.pool.Has(fan.TxID()) {
				return false
			}
		}
		return true
	})
	shared := nodes[0].mine()
	allAt(t, nodes, shared)

	// Split: {0,1} and {2,3}.
	halfA, halfB := nodes[:2], nodes[2:]
	inB := map[string]bool{}
	for _, n := range halfB {
		inB[n.ID().String()] = true
	}
	for _, n := range nodes {
		mine := inB[n.ID().String()]
		n.gater.setBlock(func(p peer.ID) bool { return inB[p.String()] != mine })
	}
	for _, a := range halfA {
		for _, b := range halfB {
			_ = a.host.Network().ClosePeer(b.ID())
		}
	}
	waitFor(t, 10*time.Second, "the halves apart", func() bool {
		for _, n := range nodes {
			if n.Count() != 1 {
				return false
			}
		}
		return true
	})
	waitMesh(t, nodes, 1)

	outs := testgen.Outputs(fan)
	txA := g.Pay(outs[0:2], 2, 5000)
	txB := g.Pay(outs[2:4], 2, 5000)
	halfA[0].submitTx(txA)
	halfB[0].submitTx(txB)
	waitFor(t, 10*time.Second, "each half's tx in its pools", func() bool {
		return halfA[1].pool.Has(txA.TxID()) && halfB[1].pool.Has(txB.TxID())
	})
	var tipA, tipB wire.Hash
	for i := 0; i < 2; i++ {
		tipA = halfA[i%2].mine()
		allAt(t, halfA, tipA)
	}
	for i := 0; i < 4; i++ {
		tipB = halfB[i%2].mine()
		allAt(t, halfB, tipB)
	}
	if halfA[0].pool.Has(txA.TxID()) || halfB[0].pool.Has(txB.TxID()) {
		t.Fatal("mined transactions still in the pools")
	}

	// Heal.
	for _, n := range nodes {
		n.gater.setBlock(nil)
	}
	connect(t, halfA[0], halfB[0])
	connect(t, halfA[1], halfB[1])
	allAt(t, nodes, tipB)
	want, err := nodes[2].chain.UTXOStats()
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		st, err := n.chain.UTXOStats()
		if err != nil {
			t.Fatal(err)
		}
		if st.Hash != want.Hash || st.Height != want.Height {
			t.Errorf("node %d: UTXO set %s at %d, want %s at %d", i, st.Hash, st.Height, want.Hash, want.Height)
		}
	}
	// The losing branch's transaction is back in the pools of the nodes
	// that had it. (The other half gets it when the node re-announces it
	// after gossipsub's seen cache forgot it, minutes later: not waited
	// for here.)
	waitFor(t, 10*time.Second, "the losing branch's tx back in its pools", func() bool {
		for _, n := range halfA {
			if !n.pool.Has(txA.TxID()) {
				return false
			}
		}
		return true
	}, func() string {
		s := ""
		for i, n := range nodes {
			s += fmt.Sprintf(" node %d has=%v count=%d;", i, n.pool.Has(txA.TxID()), n.pool.Stats().Count)
		}
		return s
	})
	for i, n := range nodes {
		if n.pool.Has(txB.TxID()) {
			t.Errorf("node %d: the winning branch's tx is in the pool", i)
		}
		if n.Banned() != 0 {
			t.Errorf("node %d banned an honest peer: %v", i, n.BanList())
		}
	}
}

func allAt(t *testing.T, nodes []*testNode, id wire.Hash) {
	t.Helper()
	waitFor(t, 30*time.Second, "every node at "+id.String()[:12], func() bool {
		for _, n := range nodes {
			if n.chain.Tip().ID != id {
				return false
			}
		}
		return true
	})
}

// TestSyncStallMovesToAnotherPeer: the peer the headers came from never
// answers getblocks; the blocks are asked from another peer once the
// request is overdue, and the sync completes.
func TestSyncStallMovesToAnotherPeer(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 40)
	server := newTestNode(t).start()
	server.processAll(blocks)
	tip := blocks[len(blocks)-1].BlockID()

	staller := newAttacker(t)
	quit := make(chan struct{})
	staller.host.SetStreamHandler(SyncProtocol(devParams.NetworkID), func(s network.Stream) {
		defer s.Close()
		typ, payload, err := readFrame(s, maxRequestFrame)
		if err != nil {
			s.Reset()
			return
		}
		switch typ {
		case msgStatus:
			_ = writeFrame(s, msgStatus, encodeStatus(server.ourStatus()))
		case msgGetHeaders:
			gh, _ := decodeGetHeaders(payload)
			_ = writeFrame(s, msgHeaders, encodeHeaders(server.chain.LocateHeaders(gh.Locator, MaxHeadersPerMsg)))
		case msgGetBlocks:
			<-quit // never answers
		}
	})
	late := newTestNode(t).start()
	t.Cleanup(func() { close(quit) }) // before the nodes stop
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := late.host.Connect(ctx, peer.AddrInfo{ID: staller.id(), Addrs: staller.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "sync from the staller to start", late.Syncing)
	connect(t, late, server)
	waitFor(t, 25*time.Second, "the late node at the tip", func() bool { return late.chain.Tip().ID == tip })
	if st := late.Stats(); st.SyncStalls == 0 {
		t.Errorf("no stall counted: %+v", st)
	}
}

// TestHeaderPeerLostMidway: the peer headers are fetched from answers
// the first batch of 2000 and then fails every request; another peer
// continues the header chain from the last checked header within the same
// round, and the sync completes.
func TestHeaderPeerLostMidway(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, MaxHeadersPerMsg+100)
	server := newTestNode(t, fixedTopology)
	server.processAll(blocks)
	server.start()
	tip := blocks[len(blocks)-1].BlockID()

	flaky := newAttacker(t)
	asked := 0
	var late *testNode
	// knowsServer: the late node has the server's status, so that it has
	// another peer to continue with (on a loaded machine the flaky peer
	// could otherwise fail before that status arrives, which is a
	// different scenario: no other peer known).
	knowsServer := func() bool {
		h, ok := late.peerHeight(server.ID())
		return ok && h > 0
	}
	flaky.host.SetStreamHandler(SyncProtocol(devParams.NetworkID), func(s network.Stream) {
		defer s.Close()
		typ, payload, err := readFrame(s, maxRequestFrame)
		if err != nil {
			s.Reset()
			return
		}
		switch typ {
		case msgStatus:
			st := server.ourStatus()
			st.Work = new(big.Int).Lsh(st.Work, 1) // the most work: picked first
			_ = writeFrame(s, msgStatus, encodeStatus(st))
		case msgGetHeaders:
			asked++
			if asked > 1 {
				for deadline := time.Now().Add(10 * time.Second); !knowsServer() && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				s.Reset() // gone after the first batch
				return
			}
			gh, _ := decodeGetHeaders(payload)
			_ = writeFrame(s, msgHeaders, encodeHeaders(server.chain.LocateHeaders(gh.Locator, MaxHeadersPerMsg)))
		default:
			s.Reset()
		}
	})
	// Both connected before the node runs: the flaky peer, claiming the
	// most work, is picked and fails after the first batch.
	late = newTestNode(t, fixedTopology)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := late.host.Connect(ctx, peer.AddrInfo{ID: flaky.id(), Addrs: flaky.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	connect(t, late, server)
	late.start()
	waitFor(t, 30*time.Second, "the late node at the tip", func() bool { return late.chain.Tip().ID == tip })
	st := late.Stats()
	t.Logf("stats %+v", st)
	if st.SyncRounds != 1 {
		t.Errorf("%d sync rounds: the round did not survive losing its header peer", st.SyncRounds)
	}
}

// assumeValidChain builds 30 blocks whose block 10 holds a transaction
// with a broken signature; it returns them, their ids and the cumulative
// work at block 20, the block to assume valid.
func assumeValidChain(g *testgen.Gen) ([]*wire.Block, []wire.Hash, *big.Int) {
	parent := g.Genesis()
	var blocks []*wire.Block
	var ids []wire.Hash
	work := consensus.CalcWork(devParams.Genesis.Header.Bits)
	var fan *wire.Tx
	for h := 1; h <= 30; h++ {
		var txs []*wire.Tx
		switch h {
		case 1:
			fan = g.Pay(g.GenesisSpends(), 50, 10000)
			txs = []*wire.Tx{fan}
		case 10:
			bad := g.Pay(testgen.Outputs(fan)[:1], 1, 1000)
			bad.Inputs[0].Sig[40] ^= 1
			txs = []*wire.Tx{bad}
		}
		b := g.Block(parent, txs)
		blocks, ids = append(blocks, b), append(ids, b.BlockID())
		if h <= 20 {
			work.Add(work, consensus.CalcWork(b.Header.Bits))
		}
		parent = testgen.ParentOf(b, uint64(h))
	}
	return blocks, ids, work
}

// TestAssumeValidSync: a fresh node with --assumevalid syncs a chain
// whose block 10 has a broken signature, because block 20 is assumed
// valid and its syncer found the header chain to it; the same node
// without --assumevalid stops below the broken block.
func TestAssumeValidSync(t *testing.T) {
	g := testgen.New(devParams)
	blocks, ids, work := assumeValidChain(g)
	av := ids[19]
	withAV := func(c *chain.Config) { c.AssumeValid = av }
	server := newTestNodeChain(t, "", withAV).start()
	if !server.chain.AssumeHeaderChain(1, ids[:20], work) {
		t.Fatal("server: header chain refused")
	}
	server.processAll(blocks)

	assumed := newTestNodeChain(t, "", withAV, withBootstrap(server.Addrs()...)).start()
	checked := newTestNode(t, withBootstrap(server.Addrs()...)).start()
	tip := ids[len(ids)-1]
	waitFor(t, 30*time.Second, "the assumevalid node at the tip", func() bool { return assumed.chain.Tip().ID == tip })
	if info := assumed.chain.AssumeValid(); info.Skipped != 20 || info.Height != 20 || info.InForce {
		t.Errorf("assumevalid node: %+v, want 20 blocks skipped, height 20, no longer in force", info)
	}
	waitFor(t, 30*time.Second, "the checking node below the broken block", func() bool { return checked.chain.Tip().Height == 9 })
	time.Sleep(time.Second)
	if h := checked.chain.Tip().Height; h != 9 {
		t.Fatalf("the node checking every signature went past the broken block to %d", h)
	}
	if info, ok := checked.chain.BlockInfo(ids[9]); ok && !info.Invalid {
		t.Errorf("broken block stored as valid: %+v", info)
	}
}
