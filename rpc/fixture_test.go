package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"tally/rpc/client"
	"tally/rpc/rpcjson"
	"testing"
	"time"

	"tally/chain"
	"tally/chain/indexes"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/mining"
	"tally/wire"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// fakePeers stands in for the p2p layer.
type fakePeers struct {
	mu    sync.Mutex
	added []string
}

func (p *fakePeers) Info() []PeerInfo {
	return []PeerInfo{
		{ID: "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo", Addr: "/ip4/127.0.0.1/tcp/8646", Inbound: false, ConnTime: 1795400000, SubVer: "tally/0.1.0", Height: 20, PingTime: 0.0012, Score: 10},
		{ID: "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK", Addr: "/ip4/127.0.0.1/tcp/50123", Inbound: true, ConnTime: 1795400100, SubVer: "tally/0.1.0", Height: 20, PingTime: 0.0009, Score: 4.5},
	}
}

func (p *fakePeers) Count() int { return 2 }

func (p *fakePeers) AddNode(ctx context.Context, addr string) error {
	if addr == "bad" {
		return errors.New("invalid multiaddr")
	}
	p.mu.Lock()
	p.added = append(p.added, addr)
	p.mu.Unlock()
	return nil
}

func (p *fakePeers) ListenAddrs() []string { return []string{"/ip4/127.0.0.1/tcp/8646"} }

// relayLog records what the server relayed.
type relayLog struct {
	mu     sync.Mutex
	txs    []wire.Hash
	blocks []wire.Hash
}

func (r *relayLog) RelayTx(tx *wire.Tx) {
	r.mu.Lock()
	r.txs = append(r.txs, tx.TxID())
	r.mu.Unlock()
}

func (r *relayLog) RelayBlock(b *wire.Block) {
	r.mu.Lock()
	r.blocks = append(r.blocks, b.BlockID())
	r.mu.Unlock()
}

// other is an owner the generator pays but cannot spend.
var other = [20]byte{0x0b, 0x0b, 0x0b, 0x0b}

// fixture is a test node: an in-memory chain of 20 blocks with
// transactions, both indexes, a pool holding a few transactions, a miner,
// and the RPC server on 127.0.0.1 with both listeners.
type fixture struct {
	t      testing.TB
	p      *consensus.Params
	g      *testgen.Gen
	clock  *clock
	c      *chain.Chain
	pool   *mempool.Pool
	miner  *mining.Miner
	txix   *indexes.TxIndex
	addrix *indexes.AddrIndex
	rec    *Recorder
	hub    *EventHub
	peers  *fakePeers
	relay  *relayLog
	srv    *Server
	dir    string
	cli    *client.Client // cookie credentials
	pub    *client.Client // public listener

	synced    bool
	syncWhy   string
	syncMu    sync.Mutex
	stopped   chan struct{}
	spendable []testgen.Spend
	blocks    []*wire.Block // best chain by height
	payments  []*wire.Tx    // confirmed transactions paying other, in order
	poolTxs   []*wire.Tx    // pool transactions: a parent, its child, another
	otherAddr string
	genAddr   string
}

// fixtureNow is the fixture's clock: well after every block time.
var fixtureNow = time.Unix(1795305600+1_000_000, 0)

type fixtureOpts struct {
	cfg func(*Config)
	// eventBuffer sizes the event hub (0: the default).
	eventBuffer int
}

func newFixture(t testing.TB, opts ...func(*fixtureOpts)) *fixture {
	t.Helper()
	var o fixtureOpts
	for _, fn := range opts {
		fn(&o)
	}
	p := testgen.DevParams()
	f := &fixture{t: t, p: p, g: testgen.New(p), clock: &clock{t: fixtureNow}, peers: &fakePeers{}, relay: &relayLog{},
		synced: true, stopped: make(chan struct{})}
	f.spendable = f.g.GenesisSpends()
	f.otherAddr, _ = wire.EncodeAddress(p.AddressPrefix, other)
	f.genAddr, _ = wire.EncodeAddress(p.AddressPrefix, f.g.PKH)
	f.txix, f.addrix = indexes.NewTxIndex(), indexes.NewAddrIndex()
	var err error
	f.c, err = chain.OpenMemory(chain.Config{Params: p, NoSync: true, Now: f.clock.Now, Workers: 1,
		Indexers: []chain.Indexer{f.txix, f.addrix}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.c.Close() })
	if err := indexes.Catchup(f.c, f.txix, f.addrix); err != nil {
		t.Fatal(err)
	}
	f.rec = NewRecorder(0, 0, f.clock.Now)
	f.hub = NewEventHub(o.eventBuffer, 0, f.c.Tip().ID, f.c.Tip().Height)
	f.pool = mempool.New(mempool.Config{Chain: f.c, Now: f.clock.Now, OnRemove: f.rec.PoolRemoved, OnChange: f.hub.PoolChanged})
	// The hub before the pool: a block comes before the txgone of its
	// transactions.
	f.c.Subscribe(f.hub.HandleChainEvents)
	f.c.Subscribe(f.pool.HandleChainEvents)
	f.c.Subscribe(f.rec.HandleChainEvents)
	f.miner = mining.New(mining.Config{Chain: f.c, Pool: f.pool, Workers: 1, Now: f.clock.Now,
		Submit: func(b *wire.Block) error { _, err := f.c.ProcessBlock(b); return err }})
	f.blocks = []*wire.Block{p.Genesis}

	// Blocks 1..15 from the generator, two payments each; blocks 16..20
	// mined from the pool (three payments each), which feeds the fee
	// estimator.
	for h := 1; h <= 15; h++ {
		f.addBlock(f.pay(1000), f.pay(2000))
	}
	for h := 16; h <= 20; h++ {
		for i := 0; i < 3; i++ {
			if _, err := f.pool.Accept(f.pay(uint64(3000+1000*i)), ""); err != nil {
				t.Fatal(err)
			}
		}
		ids, err := f.miner.Generate(context.Background(), 1, f.g.PKH)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.c.Block(ids[0])
		if err != nil {
			t.Fatal(err)
		}
		f.blocks = append(f.blocks, b)
	}
	// The pool: a parent, its child, and an independent payment.
	parent := f.pay(4000)
	child := f.g.Pay(testgen.Outputs(parent)[1:2], 1, 3000)
	f.spendable = slices.DeleteFunc(f.spendable, func(s testgen.Spend) bool { return s.Out == child.Inputs[0].Prev })
	f.spendable = append(f.spendable, testgen.Outputs(child)...)
	third := f.pay(5000)
	for _, tx := range []*wire.Tx{parent, child, third} {
		if _, err := f.pool.Accept(tx, ""); err != nil {
			t.Fatal(err)
		}
		f.poolTxs = append(f.poolTxs, tx)
	}
	f.payments = f.payments[:len(f.payments)-2] // parent and third are not confirmed

	cfg := Config{Params: p, Listen: "127.0.0.1:0", PublicListen: "127.0.0.1:0", CookieDir: t.TempDir(),
		User: "alice", Password: "correct horse", Dev: true, Now: f.clock.Now, Synced: f.syncState}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	f.dir = cfg.CookieDir
	f.srv, err = New(cfg, Deps{Chain: f.c, Mempool: f.pool, Miner: f.miner, Peers: f.peers,
		TxIndex: TxIndexOn(f.txix, f.c.IndexDB()), AddrIndex: AddrIndexOn(f.addrix, f.c.IndexDB()), Relay: f.relay,
		TxStatus: f.rec, Stop: func() { close(f.stopped) }, Started: fixtureNow.Add(-time.Hour), Events: f.hub})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.srv.Stop(ctx)
	})
	f.cli, err = client.FromCookie("http://"+f.srv.Addr(), filepath.Join(f.dir, rpcjson.CookieFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.srv.PublicAddr() != "" {
		f.pub = client.New("http://"+f.srv.PublicAddr(), "", "")
	}
	return f
}

func (f *fixture) syncState() (bool, string) {
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	return f.synced, f.syncWhy
}

func (f *fixture) setSynced(ok bool, why string) {
	f.syncMu.Lock()
	f.synced, f.syncWhy = ok, why
	f.syncMu.Unlock()
}

// pay spends the oldest spendable coin: 5,000 to other and the rest, less
// fee, in two outputs back to the generator.
func (f *fixture) pay(fee uint64) *wire.Tx {
	s := f.spendable[0]
	f.spendable = f.spendable[1:]
	rest := s.Amount - fee - 5000
	tx := f.g.Tx([]testgen.Spend{s}, []wire.TxOut{
		{Amount: 5000, PKH: other},
		{Amount: rest / 2, PKH: f.g.PKH},
		{Amount: rest - rest/2, PKH: f.g.PKH},
	})
	f.spendable = append(f.spendable, testgen.Outputs(tx)[1:]...)
	f.payments = append(f.payments, tx)
	return tx
}

func (f *fixture) tip() testgen.Parent {
	n := len(f.blocks) - 1
	return testgen.ParentOf(f.blocks[n], uint64(n))
}

// addBlock mines a block of txs on the tip with the generator and
// processes it.
func (f *fixture) addBlock(txs ...*wire.Tx) *wire.Block {
	f.t.Helper()
	b := f.g.Block(f.tip(), txs)
	if res, err := f.c.ProcessBlock(b); err != nil || res != chain.MainChain {
		f.t.Fatalf("block %d: %v %v", len(f.blocks), res, err)
	}
	f.blocks = append(f.blocks, b)
	return b
}

// call runs a method with the cookie client and decodes the result.
func (f *fixture) call(method string, params []any, result any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f.cli.Call(ctx, method, params, result)
}

// mustCall is call that fails the test on error.
func (f *fixture) mustCall(method string, params []any, result any) {
	f.t.Helper()
	if err := f.call(method, params, result); err != nil {
		f.t.Fatalf("%s %v: %v", method, params, err)
	}
}

// post sends a raw body and returns the status and body.
func post(t testing.TB, url, user, pass, body string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// postPriv posts with the user/password credentials.
func (f *fixture) postPriv(body string) (int, []byte) {
	f.t.Helper()
	st, b, _ := post(f.t, "http://"+f.srv.Addr(), "alice", "correct horse", body)
	return st, b
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// serve starts another server on f's parameters over deps (a wrapped
// chain, another pool), stopped when the test ends, and returns it with
// a client.
func (f *fixture) serve(t *testing.T, deps Deps) (*Server, *client.Client) {
	t.Helper()
	srv, err := New(Config{Params: f.p, Listen: "127.0.0.1:0", User: "u", Password: "p"}, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return srv, client.New(srv.Addr(), "u", "p")
}
