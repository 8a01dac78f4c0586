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

// testClock runs far ahead of the wall clock, so that blocks built by
// testgen (each 600 s after its parent) are never "too new".
func testClock() time.Time { return time.Now().Add(400 * 24 * time.Hour) }

var devParams = testgen.DevParams()

// testNode is a full node in one process: chain on in-memory storage,
// mempool wired to chain events, and the p2p node on 127.0.0.1.
type testNode struct {
	*Node
	t     testing.TB
	chain *chain.Chain
	pool  *mempool.Pool
	miner *mining.Miner
}

type nodeOpt func(*Config)

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
	p := devParams
	sigs := consensus.NewSigCache(200000)
	if sharedSigCache != nil {
		sigs = sharedSigCache
	}
	c, err := chain.OpenMemory(chain.Config{Params: p, NoSync: true, Now: testClock, SigCache: sigs, CacheBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	pool := mempool.New(mempool.Config{Chain: c, SigCache: sigs})
	c.Subscribe(pool.HandleChainEvents)
	cfg := Config{
		DataDir:           t.TempDir(),
		Params:            p,
		Chain:             c,
		Pool:              pool,
		Listen:            []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Bootstrap:         []string{},
		LoopbackOnly:      true,
		DiscoveryInterval: 500 * time.Millisecond,
		StatusInterval:    2 * time.Second,
		Now:               testClock,
		Logger:            testLogger(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := New(context.Background(), cfg)
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
	t.Cleanup(func() {
		n.Close()
		c.Close()
	})
	return tn
}

func (tn *testNode) start() *testNode {
	tn.t.Helper()
	if err := tn.Start(); err != nil {
		tn.t.Fatal(err)
	}
	return tn
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
