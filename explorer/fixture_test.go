package explorer

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tally/chain"
	"tally/chain/indexes"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/mining"
	"tally/rpc"
	"tally/wire"
)

// other is an owner the generator pays but cannot spend.
var other = [20]byte{0x0e, 0x0e, 0x0e}

// testNode is a real chain, pool, miner and RPC server in memory, with an
// explorer in front of the RPC server over real HTTP on 127.0.0.1.
type testNode struct {
	t         testing.TB
	p         *consensus.Params
	g         *testgen.Gen
	c         *chain.Chain
	pool      *mempool.Pool
	miner     *mining.Miner
	rpc       *rpc.Server
	hub       *rpc.EventHub
	ex        *Server
	url       string
	dir       string
	spendable []testgen.Spend
	blocks    []*wire.Block // best chain by height
	payments  []*wire.Tx    // confirmed payments to other, oldest first
	poolTxs   []*wire.Tx
	otherAddr string
	genAddr   string
}

// newTestNode builds blocks 1..n from the generator with two payments
// each, puts two payments in the pool, and starts the explorer with cfg.
func newTestNode(t testing.TB, n int, cfg Config) *testNode {
	return buildTestNode(t, nodeOpts{blocks: n, pays: func(int) int { return 2 }, poolFees: []uint64{3000, 9000}}, cfg)
}

// nodeOpts shapes a test chain.
type nodeOpts struct {
	blocks   int
	pays     func(height int) int // payments in each block
	split    int                  // if > 0, block 1 also splits a coin into this many
	poolFees []uint64             // fees of the payments left in the pool
	now      func() time.Time     // the chain's clock (default time.Now)
}

func buildTestNode(t testing.TB, o nodeOpts, cfg Config) *testNode {
	t.Helper()
	p := testgen.DevParams()
	tn := &testNode{t: t, p: p, g: testgen.New(p), dir: t.TempDir()}
	tn.spendable = tn.g.GenesisSpends()
	tn.otherAddr, _ = wire.EncodeAddress(p.AddressPrefix, other)
	tn.genAddr, _ = wire.EncodeAddress(p.AddressPrefix, tn.g.PKH)
	txix, addrix := indexes.NewTxIndex(), indexes.NewAddrIndex()
	var err error
	tn.c, err = chain.OpenMemory(chain.Config{Params: p, NoSync: true, Workers: 1, Now: o.now, Indexers: []chain.Indexer{txix, addrix}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.c.Close() })
	if err := indexes.Catchup(tn.c, txix, addrix); err != nil {
		t.Fatal(err)
	}
	rec := rpc.NewRecorder(0, 0, nil)
	tip := tn.c.Tip()
	tn.hub = rpc.NewEventHub(0, 0, tip.ID, tip.Height)
	tn.c.Subscribe(tn.hub.HandleChainEvents)
	tn.pool = mempool.New(mempool.Config{Chain: tn.c, OnRemove: rec.PoolRemoved, OnChange: tn.hub.PoolChanged})
	tn.c.Subscribe(tn.pool.HandleChainEvents)
	tn.c.Subscribe(rec.HandleChainEvents)
	tn.miner = mining.New(mining.Config{Chain: tn.c, Pool: tn.pool, Workers: 1,
		Submit: func(b *wire.Block) error { _, err := tn.c.ProcessBlock(b); return err }})
	tn.blocks = []*wire.Block{p.Genesis}
	for h := 1; h <= o.blocks; h++ {
		var txs []*wire.Tx
		if h == 1 && o.split > 0 {
			split := tn.g.Pay(tn.spendable[:1], o.split, 100_000)
			tn.spendable = append(tn.spendable[1:], testgen.Outputs(split)...)
			txs = append(txs, split)
		}
		for i := o.pays(h); i > 0; i-- {
			txs = append(txs, tn.pay(1000+uint64(h%7)*500))
		}
		tn.addBlock(txs...)
	}
	for _, fee := range o.poolFees {
		tx := tn.pay(fee)
		if _, err := tn.pool.Accept(tx, ""); err != nil {
			t.Fatal(err)
		}
		tn.poolTxs = append(tn.poolTxs, tx)
	}
	tn.payments = tn.payments[:len(tn.payments)-len(o.poolFees)]
	tn.rpc, err = rpc.New(rpc.Config{Params: p, Listen: "127.0.0.1:0", User: "u", Password: "p", Dev: true},
		rpc.Deps{Chain: tn.c, Mempool: tn.pool, Miner: tn.miner, TxIndex: rpc.TxIndexOn(txix, tn.c.IndexDB()),
			AddrIndex: rpc.AddrIndexOn(addrix, tn.c.IndexDB()), TxStatus: rec, Events: tn.hub})
	if err != nil {
		t.Fatal(err)
	}
	tn.startExplorer(cfg, tn.rpc)
	return tn
}

// startExplorer runs an explorer over b until the test ends.
func (tn *testNode) startExplorer(cfg Config, b Backend) {
	t := tn.t
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.AddrFile = filepath.Join(tn.dir, "explorer.addr")
	ex, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ex.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if tn.hub != nil {
			tn.hub.Close()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("explorer Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("explorer did not stop")
		}
	})
	tn.ex, tn.url = ex, "http://"+ex.Addr()
}

// pay spends the oldest spendable coin: 5,000 to other, the rest less
// fee back to the generator.
func (tn *testNode) pay(fee uint64) *wire.Tx {
	s := tn.spendable[0]
	tn.spendable = tn.spendable[1:]
	tx := tn.g.Tx([]testgen.Spend{s}, []wire.TxOut{{Amount: 5000, PKH: other}, {Amount: s.Amount - fee - 5000, PKH: tn.g.PKH}})
	tn.spendable = append(tn.spendable, testgen.Outputs(tx)[1:]...)
	tn.payments = append(tn.payments, tx)
	return tx
}

// addBlock mines txs on the tip with the generator.
func (tn *testNode) addBlock(txs ...*wire.Tx) *wire.Block {
	tn.t.Helper()
	n := len(tn.blocks) - 1
	b := tn.g.Block(testgen.ParentOf(tn.blocks[n], uint64(n)), txs)
	if res, err := tn.c.ProcessBlock(b); err != nil || res != chain.MainChain {
		tn.t.Fatalf("block %d: %v %v", n+1, res, err)
	}
	tn.blocks = append(tn.blocks, b)
	return b
}

// tip returns the best block and its height.
func (tn *testNode) tip() (*wire.Block, int) {
	return tn.blocks[len(tn.blocks)-1], len(tn.blocks) - 1
}

// get fetches path without following redirects.
func (tn *testNode) get(path string) (int, string, http.Header) {
	tn.t.Helper()
	return fetch(tn.t, http.MethodGet, tn.url+path)
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func fetch(t testing.TB, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// mustContain fails unless body holds every string.
func mustContain(t testing.TB, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("%s: missing %q", what, s)
		}
	}
}

func readAddrFile(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "explorer.addr"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
