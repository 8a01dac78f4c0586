package p2p

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/mining"
	"tally/wire"
)

// testOffset puts the test clock far ahead of the wall clock, so that
// blocks built by testgen (each 600 s after its parent) are never "too
// new".
const testOffset = 400 * 24 * time.Hour

func testClock() time.Time { return time.Now().Add(testOffset) }

var devParams = testgen.DevParams()

// testNode is a full node in one process: chain on in-memory storage,
// mempool wired to chain events, and the p2p node on 127.0.0.1.
type testNode struct {
	*Node
	t     testing.TB
	chain *chain.Chain
	pool  *mempool.Pool
	miner *mining.Miner

	cancel context.CancelFunc
	done   chan error
	closed bool
}

type nodeOpt func(*Config)

func withClock(c Clock) nodeOpt { return func(cfg *Config) { cfg.Clock = c } }

func withDataDir(dir string) nodeOpt { return func(c *Config) { c.DataDir = dir } }

// fixedTopology turns discovery off: the test dials every connection.
func fixedTopology(c *Config) { c.noDHT, c.NoDiscovery = true, true }

func withBootstrap(addrs ...string) nodeOpt {
	return func(c *Config) { c.Bootstrap = append([]string{}, addrs...) }
}

func testLogger() *slog.Logger {
	if os.Getenv("TALLY_P2P_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestNode(t testing.TB, opts ...nodeOpt) *testNode {
	t.Helper()
	return newTestNodeAt(t, "", opts...)
}

// newTestNodeAt is newTestNode with its chain stored in chainDir (""
// keeps it in memory), so that a restart finds it again.
func newTestNodeAt(t testing.TB, chainDir string, opts ...nodeOpt) *testNode {
	t.Helper()
	return newTestNodeChain(t, chainDir, nil, opts...)
}

// newTestNodeChain is newTestNodeAt with chainOpt, if set, changing the
// chain's configuration.
func newTestNodeChain(t testing.TB, chainDir string, chainOpt func(*chain.Config), opts ...nodeOpt) *testNode {
	t.Helper()
	p := devParams
	cfg := Config{
		DataDir:           t.TempDir(),
		Params:            p,
		Listen:            []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Bootstrap:         []string{},
		LoopbackOnly:      true,
		DiscoveryInterval: 500 * time.Millisecond,
		StatusInterval:    2 * time.Second,
		PeerSaveDelay:     200 * time.Millisecond,
		Clock:             SystemClock{Offset: testOffset},
		Logger:            testLogger(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	sigs := consensus.NewSigCache(200000)
	if sharedSigCache != nil {
		sigs = sharedSigCache
	}
	ccfg := chain.Config{Params: p, NoSync: true, Now: cfg.Clock.Now, SigCache: sigs, CacheBytes: 32 << 20}
	if chainDir != "" {
		ccfg.CacheBytes = 4 << 20
	}
	if chainOpt != nil {
		chainOpt(&ccfg)
	}
	var c *chain.Chain
	var err error
	if chainDir == "" {
		c, err = chain.OpenMemory(ccfg)
	} else {
		c, err = chain.Open(chainDir, ccfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	pool := mempool.New(mempool.Config{Chain: c, SigCache: sigs})
	c.Subscribe(pool.HandleChainEvents)
	cfg.Chain, cfg.Pool = c, pool
	n, err := New(cfg)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	tn := &testNode{Node: n, t: t, chain: c, pool: pool}
	tn.miner = mining.New(mining.Config{Chain: c, Pool: pool, Workers: 1, Submit: func(b *wire.Block) error {
		if _, err := c.ProcessBlock(b); err != nil {
			return err
		}
		return n.PublishBlock(b)
	}})
	t.Cleanup(tn.shutdown)
	return tn
}

// shutdown stops the node and closes its chain (idempotent).
func (tn *testNode) shutdown() {
	tn.stop()
	if tn.closed {
		return
	}
	tn.closed = true
	tn.Node.Close()
	if err := tn.chain.Close(); err != nil {
		tn.t.Errorf("close chain: %v", err)
	}
}

// start runs the node until the test ends (or stop).
func (tn *testNode) start() *testNode {
	tn.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel, tn.done = cancel, make(chan error, 1)
	go func() { tn.done <- tn.Run(ctx) }()
	waitFor(tn.t, 10*time.Second, "the node running", func() bool {
		ps, _, _ := tn.gossip()
		return ps != nil
	})
	return tn
}

// stop ends Run and waits for it, as a node shutting down.
func (tn *testNode) stop() {
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	if err := <-tn.done; err != nil {
		tn.t.Errorf("Run: %v", err)
	}
	tn.cancel = nil
}

// mine mines one block from the node's mempool and publishes it.
func (tn *testNode) mine() wire.Hash {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids, err := tn.miner.Generate(ctx, 1, testgen.New(devParams).PKH)
	if err != nil {
		tn.t.Fatalf("mine: %v", err)
	}
	return ids[0]
}

// submitTx accepts a transaction into the node's pool and publishes it,
// as sendrawtransaction does.
func (tn *testNode) submitTx(tx *wire.Tx) {
	tn.t.Helper()
	if _, err := tn.pool.Accept(tx, ""); err != nil {
		tn.t.Fatalf("accept tx: %v", err)
	}
	if err := tn.PublishTx(tx); err != nil {
		tn.t.Fatalf("publish tx: %v", err)
	}
}

// peerHeight is the height peer id last told tn in its status.
func (tn *testNode) peerHeight(id peer.ID) (uint64, bool) {
	for _, ps := range tn.peerSnapshot() {
		if ps.id == id {
			return ps.height, true
		}
	}
	return 0, false
}

func (tn *testNode) addrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: tn.host.ID(), Addrs: tn.host.Addrs()}
}

// connect links two nodes directly.
func connect(t testing.TB, a, b *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.host.Connect(ctx, b.addrInfo()); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			why := ""
			for _, e := range explain {
				why += e()
			}
			t.Fatalf("timed out after %s waiting for %s%s", timeout, what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMesh waits until every node sees want peers on both topics.
func waitMesh(t testing.TB, nodes []*testNode, want int) {
	t.Helper()
	waitFor(t, 30*time.Second, "topic peers", func() bool {
		for _, n := range nodes {
			if len(n.ps.ListPeers(n.blocksTopic)) < want || len(n.ps.ListPeers(n.txsTopic)) < want {
				return false
			}
		}
		return true
	})
}

// buildChain returns n blocks on the genesis built by testgen (coinbase
// only, except a fan-out of the genesis allocation in the first block).
func buildChain(g *testgen.Gen, n int) []*wire.Block {
	parent := g.Genesis()
	var out []*wire.Block
	for i := 0; i < n; i++ {
		var txs []*wire.Tx
		if i == 0 {
			txs = []*wire.Tx{g.Pay(g.GenesisSpends(), 50, 10000)}
		}
		b := g.Block(parent, txs)
		out = append(out, b)
		parent = testgen.ParentOf(b, parent.Height+1)
	}
	return out
}

func (tn *testNode) processAll(blocks []*wire.Block) {
	tn.t.Helper()
	for _, b := range blocks {
		if _, err := tn.chain.ProcessBlock(b); err != nil {
			tn.t.Fatalf("process block: %v", err)
		}
	}
}
