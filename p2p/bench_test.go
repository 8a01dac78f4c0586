package p2p

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// The network benchmark (docs/performance.md, "Network (issue 5)"). Not
// part of the default run:
//
//	TALLY_NET_BENCH=1 go test -run TestNetBench -v -timeout 30m ./p2p/
//
// TALLY_NET_BENCH_NODES (default 32), TALLY_NET_BENCH_ROUNDS (empty-block
// rounds, default 20) and TALLY_NET_BENCH_FULL (full-block rounds, default
// 5) change its size. It prints one line "BENCH-JSON {...}" with every
// figure.

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type latency struct {
	P50, P95, Max float64 // milliseconds
	N             int
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return latency{P50: ms(at(0.50)), P95: ms(at(0.95)), Max: ms(s[len(s)-1]), N: len(s)}
}

type propResult struct {
	Nodes, Edges                     int
	EmptyBlockBytes, FullBlockBytes  int
	FullBlockTxs                     int
	EmptyBlock, EmptyBlockAll        latency // per node; to the last node
	RawSmall, RawSmallAll            latency
	FullBlock, FullBlockAll          latency
	RawFull, RawFullAll              latency
	RatioEmptyVsRawP95, RatioFullP95 float64
	// CPU time the whole process used per full block (or raw 1 MB
	// message) until the last node had it: the run is CPU-bound when
	// this over the wall time approaches the core count.
	FullBlockCPUSeconds, RawFullCPUSeconds float64
	// Compact relay of a block of the same size whose transactions were
	// all gossiped first, and of one with MissingTxs of them never
	// gossiped (every receiver fetches them with getblocktxn).
	CompactBlock, CompactBlockAll               latency
	CompactMissing, CompactMissingAll           latency
	CompactCPUSeconds, CompactMissingCPUSeconds float64
	MissingTxs                                  int
	FetchedTxsPerBlock, FetchesPerBlock         float64 // over all nodes, missing case
	FetchedTxsPerBlockAll, FallbacksPerBlock    float64 // all-gossiped case
	CompactHop, CompactMissingHop               hopTimes
	// The missing case again, with the origin believing its peers have
	// the transactions (so it does not prefill them): every hop fetches.
	Fetched, FetchedAll                             latency
	FetchedCPUSeconds                               float64
	FetchedTxsPerBlockF, FetchesF                   float64
	FetchedHop                                      hopTimes
	RatioCompactVsFullP95, RatioCompactVsRawFullP95 float64
}

// hopTimes is the mean time one node spends on one compact block, per
// step of its validator (milliseconds).
type hopTimes struct {
	Decode, Rebuild, Fetch, Fallback, Connect, Total float64
	N                                                uint64
}

// compactTotals sums the compact counters of all nodes.
func compactTotals(nodes []*testNode) CompactStats {
	var t CompactStats
	for _, n := range nodes {
		s := n.CompactStats()
		t.Rebuilt += s.Rebuilt
		t.TxsFetched += s.TxsFetched
		t.Fetches += s.Fetches
		t.FullFallbacks += s.FullFallbacks
		t.DecodeTime += s.DecodeTime
		t.RebuildTime += s.RebuildTime
		t.FetchTime += s.FetchTime
		t.FallbackTime += s.FallbackTime
		t.ConnectTime += s.ConnectTime
		t.TotalTime += s.TotalTime
	}
	return t
}

// hops returns the mean per-node step times between two totals.
func hops(a, b CompactStats) hopTimes {
	n := b.Rebuilt - a.Rebuilt
	if n == 0 {
		return hopTimes{}
	}
	ms := func(x, y time.Duration) float64 { return float64((y - x).Microseconds()) / 1000 / float64(n) }
	return hopTimes{Decode: ms(a.DecodeTime, b.DecodeTime), Rebuild: ms(a.RebuildTime, b.RebuildTime),
		Fetch: ms(a.FetchTime, b.FetchTime), Fallback: ms(a.FallbackTime, b.FallbackTime),
		Connect: ms(a.ConnectTime, b.ConnectTime), Total: ms(a.TotalTime, b.TotalTime), N: n}
}

type syncResult struct {
	Blocks, Txs                int
	LocalSeconds               float64
	LocalBlocksPerS, LocalTxsS float64
	OnePeerSeconds             float64
	OnePeerBlocksS, OnePeerTxs float64
	ManySeconds                float64
	ManyPeers                  int
	ManyBlocksS, ManyTxsS      float64
	RatioOnePeer, RatioMany    float64
}

func TestNetBench(t *testing.T) {
	if os.Getenv("TALLY_NET_BENCH") == "" {
		t.Skip("network benchmark: set TALLY_NET_BENCH=1")
	}
	out := struct {
		Propagation *propResult `json:",omitempty"`
		Sync        *syncResult `json:",omitempty"`
	}{}
	if os.Getenv("TALLY_NET_BENCH_SKIP_PROP") == "" {
		t.Run("propagation", func(t *testing.T) { out.Propagation = benchPropagation(t) })
	}
	if os.Getenv("TALLY_NET_BENCH_SKIP_SYNC") == "" {
		t.Run("sync", func(t *testing.T) { out.Sync = benchSync(t) })
	}
	js, _ := json.Marshal(out)
	fmt.Printf("BENCH-JSON %s\n", js)
}

// benchNode is a node of the network benchmark. Its chain is on disk, as
// a node's is (LevelDB and block files in a temporary directory, without
// fsync: 32 nodes share one disk here, where each node has its own), with
// noded's default --dbcache of 256 MB (a smaller cache would flush in
// the middle of the short run); TALLY_NET_BENCH_MEMORY=1 keeps it in
// memory instead (the in-memory block files and LevelDB journal cost more
// CPU than the disk's page cache).
func benchNode(t testing.TB) *testNode {
	dir := t.TempDir()
	if os.Getenv("TALLY_NET_BENCH_MEMORY") != "" {
		dir = ""
	}
	cache := func(c *chain.Config) { c.CacheBytes = 256 << 20 }
	return newTestNodeChain(t, dir, cache, func(c *Config) {
		c.NoDiscovery = true
		c.noDHT = true
		c.StatusInterval = 10 * time.Second
		if os.Getenv("TALLY_NET_BENCH_TCP") != "" {
			c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
		}
	})
}

// fanOut spends the genesis allocation into fan1*fan2 outputs over
// blocks of at most about 700 kB.
func fanOut(g *testgen.Gen, fan1, fan2 int) ([]*wire.Block, []testgen.Spend) {
	parent := g.Genesis()
	first := g.Pay(g.GenesisSpends(), fan1, 0)
	b := g.Block(parent, []*wire.Tx{first})
	blocks := []*wire.Block{b}
	parent = testgen.ParentOf(b, 1)
	var outs []testgen.Spend
	var txs []*wire.Tx
	size := 0
	flush := func() {
		b := g.Block(parent, txs)
		blocks = append(blocks, b)
		parent = testgen.ParentOf(b, parent.Height+1)
		txs, size = nil, 0
	}
	for _, s := range testgen.Outputs(first) {
		tx := g.Pay([]testgen.Spend{s}, fan2, 1000)
		if size+tx.SerializeSize() > 700_000 {
			flush()
		}
		txs = append(txs, tx)
		size += tx.SerializeSize()
		outs = append(outs, testgen.Outputs(tx)...)
	}
	flush()
	return blocks, outs
}

// arrival is a block connected or a raw message received on a node.
type arrival struct {
	node int
	key  string
	at   time.Time
}

// collect waits for the arrivals of key on every node but origin.
func collect(t testing.TB, ch chan arrival, key string, origin, n int, t0 time.Time) (per []time.Duration, all time.Duration) {
	seen := make(map[int]bool)
	timeout := time.After(60 * time.Second)
	for len(seen) < n-1 {
		select {
		case a := <-ch:
			if a.key != key || a.node == origin || seen[a.node] {
				continue
			}
			seen[a.node] = true
			d := a.at.Sub(t0)
			if d < 0 {
				// Not relayed by the publish timed: fetched by sync
				// before it, say. A figure of it would be meaningless.
				t.Fatalf("node %d had %x before it was published", a.node, key[:8])
			}
			per = append(per, d)
			all = max(all, d)
		case <-timeout:
			t.Fatalf("only %d of %d nodes got %x within a minute", len(seen), n-1, key[:8])
		}
	}
	return per, all
}

// sharedSigCache, when set, is the signature cache of every node
// newTestNode makes. The propagation benchmark sets it so that filling 32
// mempools with the same transactions verifies each signature once, not 32
// times; block connects hit the cache exactly as with a cache per node,
// since every node accepted the transactions first.
var sharedSigCache *consensus.SigCache

func benchPropagation(t *testing.T) *propResult {
	sharedSigCache = consensus.NewSigCache(1 << 18)
	defer func() { sharedSigCache = nil }()
	N := envInt("TALLY_NET_BENCH_NODES", 32)
	rounds := envInt("TALLY_NET_BENCH_ROUNDS", 20)
	fullRounds := envInt("TALLY_NET_BENCH_FULL", 5)
	const txsPerBlock = 4700
	g := testgen.New(devParams)
	setup, outs := fanOut(g, 100, (4*fullRounds*txsPerBlock+99)/100)
	nodes := make([]*testNode, N)
	blockCh := make(chan arrival, N*64)
	rawCh := make(chan arrival, N*64)
	rawTopic := fmt.Sprintf("/tally/%x/bench/1", devParams.NetworkID[:])
	raws := make([]*pubsub.Topic, N)
	for i := range nodes {
		n := benchNode(t)
		n.processAll(setup)
		i := i
		n.chain.Subscribe(func(evs []chain.Event) {
			now := time.Now()
			for _, ev := range evs {
				if ev.Kind == chain.BlockConnected {
					select {
					case blockCh <- arrival{i, string(ev.ID[:]), now}:
					default:
					}
				}
			}
		})
		n.start()
		top, err := n.ps.Join(rawTopic)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := top.Subscribe(pubsub.WithBufferSize(queueSize))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				m, err := sub.Next(n.runCtx())
				if err != nil {
					return
				}
				h := sha256.Sum256(m.Data)
				select {
				case rawCh <- arrival{i, string(h[:]), time.Now()}:
				default:
				}
			}
		}()
		raws[i], nodes[i] = top, n
	}
	// Sparse topology: each node dials 3 random others.
	edges := map[[2]int]bool{}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range nodes {
		for k := 0; k < 3; k++ {
			j := rng.IntN(N)
			for j == i {
				j = rng.IntN(N)
			}
			e := [2]int{min(i, j), max(i, j)}
			if !edges[e] {
				edges[e] = true
				connect(t, nodes[i], nodes[j])
			}
		}
	}
	waitFor(t, 60*time.Second, "every node on the three topics", func() bool {
		for _, n := range nodes {
			if len(n.ps.ListPeers(n.blocksTopic)) == 0 || len(n.ps.ListPeers(n.txsTopic)) == 0 || len(n.ps.ListPeers(rawTopic)) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * time.Second) // meshes form on heartbeats
	res := &propResult{Nodes: N, Edges: len(edges)}
	pkh := g.PKH
	var emptyPer, emptyAll, rawPer, rawAll []time.Duration
	var emptyAcc CompactStats
	extra := uint64(0)
	newBlock := func(origin *testNode) *wire.Block {
		extra++
		b := origin.pool.NewTemplate(pkh, time.Now(), extra).Block()
		testgen.Solve(&b.Header, devParams)
		if _, err := origin.chain.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for r := 0; r < rounds; r++ {
		o := rng.IntN(N)
		b := newBlock(nodes[o])
		res.EmptyBlockBytes = b.SerializeSize()
		s0 := compactTotals(nodes)
		t0 := time.Now()
		if err := nodes[o].PublishBlock(b); err != nil {
			t.Fatal(err)
		}
		id := b.BlockID()
		per, all := collect(t, blockCh, string(id[:]), o, N, t0)
		emptyAcc = addStats(emptyAcc, s0, compactTotals(nodes))
		emptyPer, emptyAll = append(emptyPer, per...), append(emptyAll, all)

		data := make([]byte, res.EmptyBlockBytes)
		_, _ = rand.Read(data)
		o = rng.IntN(N)
		h := sha256.Sum256(data)
		t0 = time.Now()
		if err := raws[o].Publish(context.Background(), data); err != nil {
			t.Fatal(err)
		}
		per, all = collect(t, rawCh, string(h[:]), o, N, t0)
		rawPer, rawAll = append(rawPer, per...), append(rawAll, all)
		time.Sleep(100 * time.Millisecond)
	}
	res.EmptyBlock, res.EmptyBlockAll = summarize(emptyPer), summarize(emptyAll)
	res.RawSmall, res.RawSmallAll = summarize(rawPer), summarize(rawAll)
	t.Logf("empty block (%d B): per node %+v, to all %+v; per hop %+v", res.EmptyBlockBytes, res.EmptyBlock, res.EmptyBlockAll, hops(CompactStats{}, emptyAcc))
	t.Logf("raw gossip same size: per node %+v, to all %+v", res.RawSmall, res.RawSmallAll)

	var fullPer, fullAll, rawFPer, rawFAll []time.Duration
	var cmpPer, cmpAll, missPer, missAll, fetPer, fetAll []time.Duration
	var cmpAcc, missAcc, fetAcc CompactStats // step times summed over the rounds
	res.MissingTxs = txsPerBlock / 10
	take := func() []*wire.Tx {
		txs := make([]*wire.Tx, txsPerBlock)
		for i := range txs {
			txs[i] = g.Pay(outs[:1], 2, 1000)
			outs = outs[1:]
		}
		return txs
	}
	// relay times one block of txs from origin o, which has connected it,
	// until every other node connected it.
	relay := func(o int, txs []*wire.Tx, publish func(n *testNode, b *wire.Block) error) (*wire.Block, []time.Duration, time.Duration, float64) {
		// A collection first, as testing.B does before a benchmark: one
		// of the 32 nodes' shared multi-gigabyte heap (32 small heaps
		// when each node is its own process) costs a CPU-second or more
		// and would land in a window by chance. What the window itself
		// allocates is logged below. (Before the origin has the block:
		// during the seconds a collection takes, its peers would fetch
		// the block by headers-first sync.)
		runtime.GC()
		b := g.Block(tipParent(nodes[o]), txs)
		if _, err := nodes[o].chain.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		stopProf := startProfile("block-" + b.BlockID().String()[:8])
		m0 := readHeap()
		cpu0 := cpuTime()
		t0 := time.Now()
		if err := publish(nodes[o], b); err != nil {
			t.Fatal(err)
		}
		id := b.BlockID()
		per, all := collect(t, blockCh, string(id[:]), o, N, t0)
		cpu := cpuTime() - cpu0
		m1 := readHeap()
		stopProf()
		t.Logf("  %.0f MB allocated (%.1f MB per receiving node), %d collections, live heap after the last %.0f MB",
			float64(m1.allocs-m0.allocs)/1e6, float64(m1.allocs-m0.allocs)/1e6/float64(N-1), m1.cycles-m0.cycles, float64(m1.live)/1e6)
		time.Sleep(time.Second)
		return b, per, all, cpu.Seconds()
	}
	fullRelay := func(n *testNode, b *wire.Block) error { return n.blocks.Publish(n.ctx, b.Encode()) }
	compactRelay := func(n *testNode, b *wire.Block) error { return n.PublishBlock(b) }
	for r := 0; r < fullRounds; r++ {
		// Four blocks' worth of transactions, gossiped at once: one block
		// goes by full relay, one by compact relay, and two by compact
		// relay with 10% of their transactions never gossiped (prefilled
		// by the origin, then not).
		fullTxs, cmpTxs, missTxs, fetTxs := take(), take(), take(), take()
		gossiped := append(append(append([]*wire.Tx{}, fullTxs...), cmpTxs...), missTxs[res.MissingTxs:]...)
		gossiped = append(gossiped, fetTxs[res.MissingTxs:]...)
		src := nodes[rng.IntN(N)]
		start := time.Now()
		for _, tx := range gossiped {
			src.submitTx(tx)
		}
		// Gossipsub does not promise delivery: a message dropped by a full
		// validation queue and not asked for again within the gossip
		// window never arrives. After two minutes, the transactions still
		// missing are put into those pools directly (counted in the log),
		// so that the blocks below are relayed to the pools they assume.
		allIn := func() bool {
			for _, n := range nodes {
				if n.pool.Stats().Count < len(gossiped) {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(2 * time.Minute); !allIn() && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		toppedUp := 0
		for _, n := range nodes {
			for _, tx := range gossiped {
				if !n.pool.Has(tx.TxID()) {
					if _, err := n.pool.Accept(tx, ""); err != nil {
						t.Fatal(err)
					}
					toppedUp++
				}
			}
		}
		t.Logf("round %d: %d txs in all %d mempools after %s (%d put in directly after gossip did not deliver them)", r, len(gossiped), N, time.Since(start).Round(time.Millisecond), toppedUp)
		time.Sleep(time.Second)

		b, per, all, cpu := relay(rng.IntN(N), fullTxs, fullRelay)
		res.FullBlockBytes, res.FullBlockTxs = b.SerializeSize(), len(b.Txs)-1
		fullPer, fullAll = append(fullPer, per...), append(fullAll, all)
		res.FullBlockCPUSeconds += cpu / float64(fullRounds)
		t.Logf("round %d: full relay, %d B %d txs to all in %s using %.2f CPU-s", r, res.FullBlockBytes, res.FullBlockTxs, all.Round(time.Millisecond), cpu)

		s0 := compactTotals(nodes)
		_, per, all, cpu = relay(rng.IntN(N), cmpTxs, compactRelay)
		s1 := compactTotals(nodes)
		cmpPer, cmpAll = append(cmpPer, per...), append(cmpAll, all)
		res.CompactCPUSeconds += cpu / float64(fullRounds)
		res.FetchedTxsPerBlockAll += float64(s1.TxsFetched-s0.TxsFetched) / float64(fullRounds)
		res.FallbacksPerBlock += float64(s1.FullFallbacks-s0.FullFallbacks) / float64(fullRounds)
		cmpAcc = addStats(cmpAcc, s0, s1)
		t.Logf("round %d: compact relay to all in %s using %.2f CPU-s; per hop %+v", r, all.Round(time.Millisecond), cpu, hops(s0, s1))

		// The origin of the next block has its missing transactions;
		// nobody else does. It prefills them (they never went over the
		// transactions topic); in the second block it believes its peers
		// have them, and every hop fetches them with getblocktxn.
		for _, prefill := range []bool{true, false} {
			txs := missTxs
			if !prefill {
				txs = fetTxs
			}
			o := rng.IntN(N)
			for _, tx := range txs[:res.MissingTxs] {
				if _, err := nodes[o].pool.Accept(tx, ""); err != nil {
					t.Fatal(err)
				}
				if !prefill {
					nodes[o].cmpct.gossiped.add(tx.TxID())
				}
			}
			s0 = compactTotals(nodes)
			_, per, all, cpu = relay(o, txs, compactRelay)
			s1 = compactTotals(nodes)
			fetched, fetches := float64(s1.TxsFetched-s0.TxsFetched), float64(s1.Fetches-s0.Fetches)
			how := "prefilled by the origin"
			if prefill {
				missPer, missAll = append(missPer, per...), append(missAll, all)
				res.CompactMissingCPUSeconds += cpu / float64(fullRounds)
				res.FetchedTxsPerBlock += fetched / float64(fullRounds)
				res.FetchesPerBlock += fetches / float64(fullRounds)
				missAcc = addStats(missAcc, s0, s1)
			} else {
				how = "not prefilled"
				fetPer, fetAll = append(fetPer, per...), append(fetAll, all)
				res.FetchedCPUSeconds += cpu / float64(fullRounds)
				res.FetchedTxsPerBlockF += fetched / float64(fullRounds)
				res.FetchesF += fetches / float64(fullRounds)
				fetAcc = addStats(fetAcc, s0, s1)
			}
			t.Logf("round %d: compact relay, %d of %d txs missing everywhere, %s, to all in %s using %.2f CPU-s; %.0f txs fetched in %.0f getblocktxn; per hop %+v",
				r, res.MissingTxs, len(txs), how, all.Round(time.Millisecond), cpu, fetched, fetches, hops(s0, s1))
		}

		data := make([]byte, res.FullBlockBytes)
		_, _ = rand.Read(data)
		o := rng.IntN(N)
		h := sha256.Sum256(data)
		cpu0 := cpuTime()
		t0 := time.Now()
		if err := raws[o].Publish(context.Background(), data); err != nil {
			t.Fatal(err)
		}
		per, all = collect(t, rawCh, string(h[:]), o, N, t0)
		res.RawFullCPUSeconds += (cpuTime() - cpu0).Seconds() / float64(fullRounds)
		rawFPer, rawFAll = append(rawFPer, per...), append(rawFAll, all)
		time.Sleep(time.Second)
	}
	if dir := os.Getenv("TALLY_NET_BENCH_PROFILE"); dir != "" {
		// What the 32 nodes hold after the rounds.
		runtime.GC()
		if f, err := os.Create(filepath.Join(dir, "heap.prof")); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	res.CompactHop = hops(CompactStats{}, cmpAcc)
	res.CompactMissingHop = hops(CompactStats{}, missAcc)
	res.FetchedHop = hops(CompactStats{}, fetAcc)
	res.Fetched, res.FetchedAll = summarize(fetPer), summarize(fetAll)
	res.CompactBlock, res.CompactBlockAll = summarize(cmpPer), summarize(cmpAll)
	res.CompactMissing, res.CompactMissingAll = summarize(missPer), summarize(missAll)
	res.FullBlock, res.FullBlockAll = summarize(fullPer), summarize(fullAll)
	res.RawFull, res.RawFullAll = summarize(rawFPer), summarize(rawFAll)
	if res.RawSmall.P95 > 0 {
		res.RatioEmptyVsRawP95 = res.EmptyBlock.P95 / res.RawSmall.P95
	}
	if res.RawFull.P95 > 0 {
		res.RatioFullP95 = res.FullBlock.P95 / res.RawFull.P95
	}
	t.Logf("full block (%d B, %d txs): per node %+v, to all %+v", res.FullBlockBytes, res.FullBlockTxs, res.FullBlock, res.FullBlockAll)
	t.Logf("raw gossip same size: per node %+v, to all %+v", res.RawFull, res.RawFullAll)
	t.Logf("CPU per propagation: full block %.2f s, raw 1 MB %.2f s (all %d nodes)", res.FullBlockCPUSeconds, res.RawFullCPUSeconds, N)
	if res.FullBlock.P95 > 0 {
		res.RatioCompactVsFullP95 = res.CompactBlock.P95 / res.FullBlock.P95
	}
	if res.RawFull.P95 > 0 {
		res.RatioCompactVsRawFullP95 = res.CompactBlock.P95 / res.RawFull.P95
	}
	t.Logf("compact block (all txs gossiped): per node %+v, to all %+v, %.2f CPU-s; per hop %+v",
		res.CompactBlock, res.CompactBlockAll, res.CompactCPUSeconds, res.CompactHop)
	t.Logf("compact block (%d txs missing everywhere): per node %+v, to all %+v, %.2f CPU-s, %.0f txs fetched in %.0f getblocktxn per block; per hop %+v",
		res.MissingTxs, res.CompactMissing, res.CompactMissingAll, res.CompactMissingCPUSeconds, res.FetchedTxsPerBlock, res.FetchesPerBlock, res.CompactMissingHop)
	t.Logf("compact block (%d txs missing everywhere, not prefilled): per node %+v, to all %+v, %.2f CPU-s, %.0f txs fetched in %.0f getblocktxn per block; per hop %+v",
		res.MissingTxs, res.Fetched, res.FetchedAll, res.FetchedCPUSeconds, res.FetchedTxsPerBlockF, res.FetchesF, res.FetchedHop)
	t.Logf("p95 ratios: empty block / raw %.2f (target <= 2), full relay / raw %.2f, compact / full relay %.2f",
		res.RatioEmptyVsRawP95, res.RatioFullP95, res.RatioCompactVsFullP95)
	t.Logf("targets: compact p95 %.0f ms (< 300), compact CPU %.2f s (<= 0.5), 10%% missing p95 %.0f ms (< 600), empty/raw %.2f (<= 2)",
		res.CompactBlock.P95, res.CompactCPUSeconds, res.CompactMissing.P95, res.RatioEmptyVsRawP95)
	return res
}

// heapCounts are the runtime's allocation counters.
type heapCounts struct{ allocs, cycles, live uint64 }

// readHeap reads the bytes allocated so far, the collections completed,
// and the heap live after the last one.
func readHeap() heapCounts {
	ms := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(ms)
	return heapCounts{ms[0].Value.Uint64(), ms[1].Value.Uint64(), ms[2].Value.Uint64()}
}

// startProfile writes a CPU profile to $TALLY_NET_BENCH_PROFILE/name.prof
// until the returned function is called (no-op when unset). The
// propagation benchmark also writes heap.prof there after its rounds.
func startProfile(name string) func() {
	dir := os.Getenv("TALLY_NET_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name+".prof"))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func benchSync(t *testing.T) *syncResult {
	blocksN := envInt("TALLY_NET_BENCH_SYNC_BLOCKS", 30)
	txsPer := envInt("TALLY_NET_BENCH_SYNC_TXS", 1600)
	peersN := 3
	g := testgen.New(devParams)
	setup, outs := fanOut(g, 100, (blocksN*txsPer+99)/100)
	parent := testgen.ParentOf(setup[len(setup)-1], uint64(len(setup)))
	var timed []*wire.Block
	for i := 0; i < blocksN; i++ {
		txs := make([]*wire.Tx, txsPer)
		for k := range txs {
			txs[k] = g.Pay(outs[:1], 2, 1000)
			outs = outs[1:]
		}
		b := g.Block(parent, txs)
		timed = append(timed, b)
		parent = testgen.ParentOf(b, parent.Height+1)
	}
	tip := timed[len(timed)-1].BlockID()
	res := &syncResult{Blocks: blocksN, Txs: blocksN * txsPer, ManyPeers: peersN}

	// The node's own connect rate: ProcessBlock of the same blocks on a
	// fresh chain with an empty signature cache, as the syncing node has.
	// Measured before and after the syncs (the machine is shared; the
	// mean of the two is the reference).
	local := func() time.Duration {
		c, err := chain.OpenMemory(chain.Config{Params: devParams, NoSync: true, Now: testClock, SigCache: consensus.NewSigCache(200000), CacheBytes: 32 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, b := range setup {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for _, b := range timed {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
		}
		el := time.Since(start)
		t.Logf("local connect: %d blocks, %d txs in %s: %.1f blocks/s, %.0f txs/s", blocksN, res.Txs, el.Round(time.Millisecond),
			float64(blocksN)/el.Seconds(), float64(res.Txs)/el.Seconds())
		return el
	}
	localBefore := local()

	servers := make([]*testNode, peersN)
	for i := range servers {
		servers[i] = benchNode(t)
		servers[i].processAll(setup)
		servers[i].processAll(timed)
		servers[i].start()
	}
	run := func(peers []*testNode) time.Duration {
		f := benchNode(t)
		f.processAll(setup)
		f.start()
		start := time.Now()
		for _, s := range peers {
			connect(t, f, s)
		}
		waitFor(t, 10*time.Minute, "the fresh node at the tip", func() bool { return f.chain.Tip().ID == tip })
		el := time.Since(start)
		t.Logf("sync from %d peer(s): %s, stats %+v", len(peers), el.Round(time.Millisecond), f.Stats())
		f.Close()
		return el
	}
	el := run(servers[:1])
	res.OnePeerSeconds = el.Seconds()
	res.OnePeerBlocksS, res.OnePeerTxs = float64(blocksN)/el.Seconds(), float64(res.Txs)/el.Seconds()
	el = run(servers)
	res.ManySeconds = el.Seconds()
	res.ManyBlocksS, res.ManyTxsS = float64(blocksN)/el.Seconds(), float64(res.Txs)/el.Seconds()
	localAfter := local()
	res.LocalSeconds = (localBefore + localAfter).Seconds() / 2
	res.LocalBlocksPerS, res.LocalTxsS = float64(blocksN)/res.LocalSeconds, float64(res.Txs)/res.LocalSeconds
	res.RatioOnePeer = res.LocalSeconds / res.OnePeerSeconds
	res.RatioMany = res.LocalSeconds / res.ManySeconds
	t.Logf("sync rate: one peer %.1f blocks/s %.0f txs/s (%.0f%% of connect), %d peers %.1f blocks/s %.0f txs/s (%.0f%%); target >= 80%%",
		res.OnePeerBlocksS, res.OnePeerTxs, 100*res.RatioOnePeer, peersN, res.ManyBlocksS, res.ManyTxsS, 100*res.RatioMany)
	return res
}

// benchValidator times check on fresh nodes whose pools hold the 4,700
// transactions of a ~1 MB block (signatures cached), and reports the
// process's CPU time per check (cpu-ms/op: the signature workers and the
// garbage collector included). build makes the message once, on the first
// node; after runs after each check.
//
// TALLY_VALIDATOR_KEEP=1 makes the b.N nodes first, each with a UTXO set
// of TALLY_VALIDATOR_COINS coins (default 4,700), and fills their pools
// together, one transaction to every node at a time, each node its own
// decoded copy, as gossip does; then checks the block on each. With
// -benchtime 32x and 94000 coins, a check finds its data scattered among
// the memory of 32 nodes as in the network benchmark, whose hops miss the
// CPU caches far more than one node alone does.
func benchValidator(b *testing.B, build func(n *testNode, g *testgen.Gen, txs []*wire.Tx) []byte,
	check func(n *testNode, msg []byte) error, after func(n *testNode)) []byte {
	keep := os.Getenv("TALLY_VALIDATOR_KEEP") != ""
	if keep {
		sharedSigCache = consensus.NewSigCache(1 << 18)
		defer func() { sharedSigCache = nil }()
	}
	g := testgen.New(devParams)
	setup, outs := fanOut(g, 100, (envInt("TALLY_VALIDATOR_COINS", 4700)+99)/100)
	txs := make([]*wire.Tx, 4700)
	for i := range txs {
		txs[i] = g.Pay(outs[i:i+1], 2, 1000)
	}
	fill := func(nodes []*testNode) {
		for _, tx := range txs {
			for _, n := range nodes {
				own := tx
				if keep {
					var err error
					if own, err = wire.DecodeTx(tx.Encode()); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := n.pool.Accept(own, ""); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.StopTimer()
	var kept []*testNode
	if keep {
		for range b.N {
			n := benchNode(b)
			n.processAll(setup)
			kept = append(kept, n)
			defer n.Close()
		}
		fill(kept)
	}
	var msg []byte
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		var n *testNode
		if keep {
			n = kept[i]
		} else {
			n = benchNode(b)
			n.processAll(setup)
			fill([]*testNode{n})
		}
		if msg == nil {
			msg = build(n, g, txs)
		}
		stopProf := startProfile(fmt.Sprintf("validator-%d", i))
		c0 := cpuTime()
		b.StartTimer()
		if err := check(n, msg); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		stopProf()
		if after != nil {
			after(n)
		}
		if !keep {
			n.Close()
		}
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	return msg
}

// BenchmarkValidateFullBlock measures what one node spends on a gossiped
// ~1 MB block whose transactions are already in its mempool (signatures
// cached): the block validator from decode to the end of ProcessBlock
// (mempool update included). Run it with
//
//	go test -run XXX -bench ValidateFullBlock -benchtime 5x ./p2p/
func BenchmarkValidateFullBlock(b *testing.B) {
	enc := benchValidator(b, func(n *testNode, g *testgen.Gen, _ []*wire.Tx) []byte {
		blk := n.pool.NewTemplate(g.PKH, time.Now(), 1).Block()
		testgen.Solve(&blk.Header, devParams)
		return blk.Encode()
	}, func(n *testNode, msg []byte) error {
		_, _, err := n.checkBlock(msg, "bench", false)
		return err
	}, nil)
	b.ReportMetric(float64(len(enc)), "block-bytes")
}

// BenchmarkValidateCompactBlock is BenchmarkValidateFullBlock for the
// compact form: decode, rebuild from the pool, Merkle check, ProcessBlock.
//
//	go test -run XXX -bench ValidateCompactBlock -benchtime 5x ./p2p/
func BenchmarkValidateCompactBlock(b *testing.B) {
	var st CompactStats
	enc := benchValidator(b, func(n *testNode, g *testgen.Gen, txs []*wire.Tx) []byte {
		blk := g.Block(tipParent(n), txs)
		return wire.NewCompactBlock(blk, blk.TxIDs(), 1).Encode()
	}, func(n *testNode, msg []byte) error {
		_, _, err := n.checkCompact(context.Background(), "", msg, false)
		return err
	}, func(n *testNode) { st = addStats(st, CompactStats{}, n.CompactStats()) })
	h := hops(CompactStats{}, st)
	b.ReportMetric(h.Rebuild, "rebuild-ms")
	b.ReportMetric(h.Connect, "connect-ms")
	b.ReportMetric(float64(len(enc)), "compact-bytes")
}

// BenchmarkValidateEmptyCompactBlock times the compact announcement of a
// block of its coinbase alone, b.N of them in a row on one node: what a
// hop costs besides transactions (the empty block of the network
// benchmark).
//
//	go test -run XXX -bench ValidateEmptyCompactBlock -benchtime 500x ./p2p/
func BenchmarkValidateEmptyCompactBlock(b *testing.B) {
	g := testgen.New(devParams)
	n := benchNode(b)
	defer n.Close()
	msgs := make([][]byte, b.N)
	parent := g.Genesis()
	for i := range msgs {
		blk := g.Block(parent, nil)
		msgs[i] = wire.NewCompactBlock(blk, blk.TxIDs(), 1).Encode()
		parent = testgen.ParentOf(blk, parent.Height+1)
	}
	stopProf := startProfile("empty")
	defer stopProf()
	c0 := cpuTime()
	b.ResetTimer()
	for _, msg := range msgs {
		if _, _, err := n.checkCompact(context.Background(), "", msg, false); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-us/op")
}

// addStats adds the difference b - a of compact totals to acc.
func addStats(acc, a, b CompactStats) CompactStats {
	acc.Rebuilt += b.Rebuilt - a.Rebuilt
	acc.TxsFetched += b.TxsFetched - a.TxsFetched
	acc.Fetches += b.Fetches - a.Fetches
	acc.FullFallbacks += b.FullFallbacks - a.FullFallbacks
	acc.DecodeTime += b.DecodeTime - a.DecodeTime
	acc.RebuildTime += b.RebuildTime - a.RebuildTime
	acc.FetchTime += b.FetchTime - a.FetchTime
	acc.FallbackTime += b.FallbackTime - a.FallbackTime
	acc.ConnectTime += b.ConnectTime - a.ConnectTime
	acc.TotalTime += b.TotalTime - a.TotalTime
	return acc
}
