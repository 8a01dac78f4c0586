package p2p

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"tally/internal/testgen"
	"tally/wire"
)

// rawHost is a bare libp2p host on 127.0.0.1 (TCP only) closed with the
// test.
func rawHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics(),
		libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// liar answers status with enormous work and never answers anything
// else: the stream stays open until quit closes.
func liar(h host.Host, quit <-chan struct{}, answerStatus bool) {
	h.SetStreamHandler(SyncProtocol(devParams.NetworkID), func(s network.Stream) {
		defer s.Close()
		typ, _, err := readFrame(s, maxRequestFrame)
		if err != nil {
			s.Reset()
			return
		}
		if typ == msgStatus && answerStatus {
			work := new(big.Int).Lsh(big.NewInt(1), 200)
			_ = writeFrame(s, msgStatus, encodeStatus(status{Genesis: devParams.GenesisID, Height: 1 << 20, Tip: wire.H([]byte("lie")), Work: work}))
			return
		}
		<-quit
		s.Reset()
	})
}

func dial(t *testing.T, h host.Host, n *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, n.addrInfo()); err != nil {
		t.Fatal(err)
	}
}

// TestInvalidSideBranchBlockBansNobody: an attacker sends invalid blocks
// that fork off the honest tip's parent to an honest node A. A can store
// them on a side branch but not validate them, so it must not forward
// them: C, one block behind A, would validate them fully, find them
// invalid and penalize A, the honest relayer (two and A is banned).
func TestInvalidSideBranchBlockBansNobody(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 10)
	slow := func(c *Config) { c.StatusInterval = time.Hour }
	a := newTestNode(t, slow, fixedTopology).start()
	c := newTestNode(t, slow, fixedTopology).start()
	a.processAll(blocks)
	c.processAll(blocks)
	connect(t, c, a)
	waitMesh(t, []*testNode{a, c}, 1)
	// A moves one block ahead without telling C.
	parent := testgen.ParentOf(blocks[len(blocks)-1], uint64(len(blocks)))
	a.processAll([]*wire.Block{g.Block(parent, nil)})

	att := newAttacker(t)
	att.joinGossip(a)
	var bad []*wire.Block
	for i := 1; i <= 3; i++ {
		extra := uint64(i)
		bad = append(bad, g.Block(parent, nil, func(b *wire.Block) {
			b.Txs[0].Outputs[0].Amount += extra // coinbase claims too much
			b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
		}))
	}
	for _, b := range bad {
		att.publish(att.blocks, b.Encode())
	}
	waitFor(t, 10*time.Second, "A to see the side-branch blocks", func() bool {
		for _, b := range bad {
			if !a.chain.HasBlock(b.BlockID()) {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second) // gossip would have reached C by now
	if c.IsBanned(a.ID()) || c.bans.score(a.ID()) != 0 {
		t.Errorf("C penalized the honest relayer A: banned=%v points=%.0f", c.IsBanned(a.ID()), c.bans.score(a.ID()))
	}
	if st := c.Stats(); st.BlocksRejected != 0 {
		t.Errorf("C was sent invalid blocks: %+v", st)
	}
	if st := a.Stats(); st.BlocksAccepted != 0 {
		t.Errorf("A accepted (forwarded) blocks it could not validate: %+v", st)
	}
}

// TestClockBehindSyncsAndBansNobody: the network's tip is stamped just
// inside max_future_seconds ahead of the honest clocks; a node whose
// clock is 3 minutes behind finds it too new. It syncs the rest, charges
// no honest peer anything, and takes the tip once its clock allows.
func TestClockBehindSyncsAndBansNobody(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 30)
	honestNow := time.Now().Add(testOffset)
	parent := testgen.ParentOf(blocks[len(blocks)-1], uint64(len(blocks)))
	tip := g.Block(parent, nil, func(b *wire.Block) { b.Header.Time = uint64(honestNow.Unix() + devParams.MaxFutureSeconds - 60) })
	blocks = append(blocks, tip)

	h1 := newTestNode(t).start()
	h1.processAll(blocks)
	h2 := newTestNode(t, withBootstrap(h1.Addrs()...)).start()
	allAt(t, []*testNode{h1, h2}, tip.BlockID())

	clk := newShiftClock(testOffset - 3*time.Minute)
	late := newTestNode(t, withClock(clk), withBootstrap(h1.Addrs()...)).start()
	connect(t, late, h2)
	below := blocks[len(blocks)-2].BlockID()
	waitFor(t, 30*time.Second, "the late node one below the tip", func() bool { return late.chain.Tip().ID == below })
	time.Sleep(4 * time.Second) // more sync rounds against the honest peers
	for _, h := range []*testNode{h1, h2} {
		if late.IsBanned(h.ID()) || late.bans.score(h.ID()) != 0 {
			t.Errorf("honest peer charged for a header our clock finds too new: banned=%v points=%.0f", late.IsBanned(h.ID()), late.bans.score(h.ID()))
		}
	}
	if late.chain.Tip().ID == tip.BlockID() {
		t.Fatal("took a block from its own future")
	}
	clk.shift(3 * time.Minute)
	waitFor(t, 20*time.Second, "the late node at the tip once its clock allows", func() bool { return late.chain.Tip().ID == tip.BlockID() })
	if late.Banned() != 0 {
		t.Errorf("bans: %v", late.BanList())
	}
}

// TestLiarsDelaySyncBriefly: ten identities announce enormous work and
// never answer getheaders; a fresh node still syncs from the honest peer
// within a few seconds, and the liars pay for their silence.
func TestLiarsDelaySyncBriefly(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 40)
	honest := newTestNode(t, fixedTopology).start()
	honest.processAll(blocks)
	fresh := newTestNode(t, fixedTopology).start()
	quit := make(chan struct{})
	var liars []host.Host
	for i := 0; i < 10; i++ {
		h := rawHost(t)
		liar(h, quit, true)
		liars = append(liars, h)
	}
	t.Cleanup(func() { close(quit) })
	for _, h := range liars {
		dial(t, h, fresh)
	}
	waitFor(t, 10*time.Second, "the liars' status", func() bool {
		speaking := 0
		for _, ps := range fresh.peerSnapshot() {
			if ps.speaks {
				speaking++
			}
		}
		return speaking == len(liars)
	})
	start := time.Now()
	connect(t, fresh, honest)
	tip := blocks[len(blocks)-1].BlockID()
	waitFor(t, 8*time.Second, "the fresh node at the honest tip", func() bool { return fresh.chain.Tip().ID == tip })
	t.Logf("synced 40 blocks past 10 liars in %s; stats %+v", time.Since(start).Round(time.Millisecond), fresh.Stats())
	if fresh.IsBanned(honest.ID()) {
		t.Error("the honest peer was banned")
	}
	// A probe that timed out counts against the silent peer.
	charged := 0
	for _, h := range liars {
		if fresh.bans.score(h.ID()) > 0 || fresh.IsBanned(h.ID()) {
			charged++
		}
	}
	if st := fresh.Stats(); st.SyncTimeouts == 0 || charged == 0 {
		t.Errorf("silence cost the liars nothing: %d timeouts, %d charged", st.SyncTimeouts, charged)
	}
}

// statusGoroutines counts goroutines exchanging status.
func statusGoroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	c := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "tally/p2p.(*Node).exchangeStatus") || strings.Contains(g, "tally/p2p.(*statusExchanger)") {
			c++
		}
	}
	return c
}

// TestSilentPeersLeaveStatusWorking: 100 peers that open the sync
// protocol and never answer a status. The node's status goroutines stay
// at the fixed worker count, and an honest peer's status is still
// exchanged (its new height seen) within seconds.
func TestSilentPeersLeaveStatusWorking(t *testing.T) {
	n := newTestNode(t, fixedTopology).start()
	honest := newTestNode(t, fixedTopology).start()
	connect(t, honest, n)
	quit := make(chan struct{})
	t.Cleanup(func() { close(quit) })
	var wg sync.WaitGroup
	hosts := make([]host.Host, 100)
	sem := make(chan struct{}, 8) // libp2p refuses many handshakes at once
	for i := range hosts {
		hosts[i] = rawHost(t)
		liar(hosts[i], quit, false)
		wg.Add(1)
		sem <- struct{}{}
		go func(h host.Host) {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = h.Connect(ctx, n.addrInfo())
		}(hosts[i])
	}
	wg.Wait()
	waitFor(t, 20*time.Second, "100 silent peers connected", func() bool { return n.Count() >= 90 })
	time.Sleep(3 * time.Second) // status requests pile up, if they can
	// Two nodes run in this process: statusWorkers each.
	if c := statusGoroutines(); c > 2*statusWorkers {
		t.Errorf("%d goroutines exchanging status with %d peers", c, n.Count())
	}
	// The honest peer moves on; the node notices through its status.
	g := testgen.New(devParams)
	b := buildChain(g, 1)
	honest.processAll(b)
	waitFor(t, 10*time.Second, "the honest peer's new height through status", func() bool {
		h, ok := n.peerHeight(honest.ID())
		return ok && h == 1
	})
	if c := statusGoroutines(); c > 2*statusWorkers {
		t.Errorf("%d goroutines exchanging status", c)
	}
}

// TestOrphanTxChainCrossesThreeHops: six transactions, a parent and a
// 5-deep chain of its children, are published children first on a line
// of four nodes. Every hop receives the children before their parent and
// keeps them as orphans; they must still reach the last node's mempool.
func TestOrphanTxChainCrossesThreeHops(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 3)
	var line []*testNode
	for i := 0; i < 4; i++ {
		n := newTestNode(t, fixedTopology).start()
		n.processAll(blocks)
		line = append(line, n)
	}
	for i := 0; i+1 < len(line); i++ {
		connect(t, line[i], line[i+1])
	}
	waitMesh(t, line[1:3], 2)
	waitMesh(t, []*testNode{line[0], line[3]}, 1)
	// Gossipsub grafts its mesh at the next heartbeats; a message
	// forwarded before then reaches a new mesh peer only by luck.
	time.Sleep(2 * time.Second)
	// The line works for an ordinary transaction.
	warm := g.Pay(testgen.Outputs(blocks[0].Txs[1])[1:2], 1, 1000)
	line[0].submitTx(warm)
	waitFor(t, 15*time.Second, "a transaction across the line", func() bool { return line[3].pool.Has(warm.TxID()) })
	parent := g.Pay(testgen.Outputs(blocks[0].Txs[1])[:1], 1, 1000)
	txs := []*wire.Tx{parent}
	for i := 0; i < 5; i++ {
		txs = append(txs, g.Pay(testgen.Outputs(txs[len(txs)-1])[:1], 1, 1000))
	}
	for _, tx := range txs {
		if _, err := line[0].pool.Accept(tx, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := len(txs) - 1; i >= 0; i-- {
		if err := line[0].PublishTx(txs[i]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // keep the order: children first
	}
	waitFor(t, 45*time.Second, "all six in the last node's mempool", func() bool {
		for _, tx := range txs {
			if !line[3].pool.Has(tx.TxID()) {
				return false
			}
		}
		return true
	}, func() string {
		have := 0
		for _, tx := range txs {
			if line[3].pool.Has(tx.TxID()) {
				have++
			}
		}
		msg := fmt.Sprintf(" (%d of 6 arrived)", have)
		for i, n := range line {
			msg += fmt.Sprintf("\nnode %d: pool %d, %+v", i, n.pool.Stats().Count, n.Stats())
		}
		return msg
	})
}

// TestInboundCannotStopOutbound: 16 inbound connections from one
// address (127.0.0.1) fill more than the node's outbound target; it still
// dials out to the peers its address book knows.
func TestInboundCannotStopOutbound(t *testing.T) {
	target := func(c *Config) { c.TargetPeers = 3 }
	n := newTestNode(t, target, fixedTopology).start()
	for i := 0; i < 16; i++ {
		dial(t, rawHost(t), n)
	}
	waitFor(t, 10*time.Second, "16 inbound", func() bool { return n.Count() >= 16 })
	// Honest peers n has heard of (through the DHT, mDNS or a peer).
	for i := 0; i < 3; i++ {
		h := newTestNode(t, fixedTopology).start()
		n.addrs.heard(h.addrInfo(), n.clock.Now())
	}
	waitFor(t, 10*time.Second, "outbound connections despite the inbound crowd", func() bool { return n.Outbound() >= 3 })
	if tried, _ := n.addrs.counts(); tried < 3 {
		t.Errorf("%d peers in the tried table after connecting to 3", tried)
	}
}

// TestRestartRejoinsWithoutBootstrap: a node that had peers for a few
// seconds is killed (its data directory copied as the crash left it, no
// orderly shutdown) and restarted after every bootstrap node is gone: it
// rejoins through the peers its peer store remembered.
func TestRestartRejoinsWithoutBootstrap(t *testing.T) {
	boot := newTestNode(t).start()
	var others []*testNode
	for i := 0; i < 3; i++ {
		others = append(others, newTestNode(t, withBootstrap(boot.Addrs()...)).start())
	}
	dir := t.TempDir()
	k := newTestNode(t, withDataDir(dir), withBootstrap(boot.Addrs()...)).start()
	waitFor(t, 20*time.Second, "the node connected to the others", func() bool { return k.Count() >= 3 })
	time.Sleep(3 * time.Second)
	// SIGKILL: whatever is on disk now is all a restart gets.
	crash := t.TempDir()
	for _, f := range []string{KeyFile, PeersFile} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s not on disk %s after a connection: %v", f, "3 s", err)
		}
		if err := os.WriteFile(filepath.Join(crash, f), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k.stop()
	boot.stop()
	r := newTestNode(t, withDataDir(crash), withBootstrap(boot.Addrs()...)).start()
	waitFor(t, 20*time.Second, "the restarted node back among its peers", func() bool {
		for _, o := range others {
			if r.host.Network().Connectedness(o.ID()) == network.Connected {
				return true
			}
		}
		return false
	})
}

// TestTxBurstNotLost: 2000 valid transactions published back to back by
// one node (beyond the library's default of 1024 validations in flight
// per topic, past which it drops messages after marking them seen) all
// reach a second node's pool over a third in the middle. It prints the
// time they took.
func TestTxBurstNotLost(t *testing.T) {
	burst := 2000
	if testing.Short() {
		burst = 500
	}
	g := testgen.New(devParams)
	blocks, outs := fanOut(g, 40, (burst+39)/40)
	txs := make([]*wire.Tx, burst)
	for i := range txs {
		txs[i] = g.Pay(outs[i:i+1], 1, 1000)
	}
	var line []*testNode
	for i := 0; i < 3; i++ {
		n := newTestNode(t, fixedTopology)
		n.processAll(blocks)
		line = append(line, n.start())
	}
	connect(t, line[0], line[1])
	connect(t, line[1], line[2])
	waitMesh(t, line[1:2], 2)
	time.Sleep(2 * time.Second) // the mesh grafts at the next heartbeats
	for _, tx := range txs {
		if _, err := line[0].pool.Accept(tx, ""); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for _, tx := range txs {
		if err := line[0].PublishTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	last := line[2]
	waitFor(t, 60*time.Second, "the whole burst two hops away", func() bool { return last.pool.Stats().Count == burst },
		func() string {
			return fmt.Sprintf(" (%d of %d; middle %+v)", last.pool.Stats().Count, burst, line[1].Stats())
		})
	took := time.Since(start)
	t.Logf("%d transactions two hops away in %s (%.0f tx/s); middle node: %d accepted, %d ignored",
		burst, took.Round(time.Millisecond), float64(burst)/took.Seconds(), line[1].Stats().TxsAccepted, line[1].Stats().TxsIgnored)
}
