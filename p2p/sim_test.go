package p2p

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"tally/internal/testgen"
	"tally/wire"
)

// The network simulation: N nodes in this process on 127.0.0.1 with
// their own data directories (chain on disk, p2p.key, peers.json), two
// bootstrap nodes, discovery through the DHT. Scripted churn stops nodes
// abruptly (no orderly p2p shutdown, so no final peer store write: what a
// SIGKILL leaves) and restarts them on the same data directory; a
// partition is imposed by every node's connection gater and lifted. After
// every step every live node must reach the best tip with the same UTXO
// set within simConverge.
//
//	TALLY_SIM=1 go test ./p2p -run TestNetworkSimulation -v -timeout 30m
//
// runs 64 nodes (TALLY_SIM_NODES to change); without TALLY_SIM a small
// version (8 nodes, one churn round, the partition) runs in CI.

const simConverge = 10 * time.Second

type simNet struct {
	t     *testing.T
	nodes []*simNode
	boot  []string
	rng   *rand.Rand
	g     *testgen.Gen
}

type simNode struct {
	idx  int
	dir  string
	tn   *testNode // nil while down
	dead bool      // stopped for good
}

func simOpts(boot []string) []nodeOpt {
	return []nodeOpt{withBootstrap(boot...), func(c *Config) {
		c.TargetPeers = 4
		c.DiscoveryInterval = time.Second
		c.OutboundRefresh = 3 * time.Second
		c.StatusInterval = 2 * time.Second
		c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}}
}

// start (re)starts node i on its data directory; it keeps its TCP port
// from the last run when it can, as a restarted daemon would.
func (s *simNet) start(i int) {
	sn := s.nodes[i]
	opts := simOpts(s.boot)
	if port := sn.port(); port != "" {
		opts = append(opts, func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/tcp/" + port} })
	}
	opts = append(opts, withDataDir(sn.dir))
	sn.tn = newTestNodeAt(s.t, filepath.Join(sn.dir, "chain"), opts...).start()
	_ = os.WriteFile(filepath.Join(sn.dir, "port"), []byte(sn.tcpPort()), 0o600)
}

func (sn *simNode) port() string {
	b, _ := os.ReadFile(filepath.Join(sn.dir, "port"))
	return string(b)
}

func (sn *simNode) tcpPort() string {
	for _, a := range sn.tn.host.Addrs() {
		if v, err := a.ValueForProtocol(6); err == nil { // P_TCP
			return v
		}
	}
	return ""
}

// crash stops node i abruptly.
func (s *simNet) crash(i int) {
	sn := s.nodes[i]
	sn.tn.noFinalSave.Store(true)
	sn.tn.shutdown()
	sn.tn = nil
}

func (s *simNet) live() []*testNode {
	var out []*testNode
	for _, sn := range s.nodes {
		if sn.tn != nil {
			out = append(out, sn.tn)
		}
	}
	return out
}

// converge waits until every live node has the best tip among them and
// the same UTXO set, and returns how long it took.
func (s *simNet) converge(what string, nodes []*testNode) time.Duration {
	s.t.Helper()
	start := time.Now()
	best := func() *testNode {
		b := nodes[0]
		for _, n := range nodes {
			if n.chain.Tip().Work.Cmp(b.chain.Tip().Work) > 0 {
				b = n
			}
		}
		return b
	}
	waitFor(s.t, simConverge, what, func() bool {
		tip := best().chain.Tip().ID
		for _, n := range nodes {
			if n.chain.Tip().ID != tip {
				return false
			}
		}
		return true
	}, func() string {
		counts := map[string]int{}
		tip := best().chain.Tip().ID
		lag := ""
		for _, n := range nodes {
			t := n.chain.Tip()
			counts[fmt.Sprintf("%d:%s", t.Height, t.ID.String()[:8])]++
			if t.ID != tip {
				lag += fmt.Sprintf("\n  behind: %d peers (%d outbound), syncing %v, %+v", n.Count(), n.Outbound(), n.Syncing(), n.Stats())
			}
		}
		return fmt.Sprintf(" (tips %v)%s", counts, lag)
	})
	took := time.Since(start)
	var ref wire.Hash
	for i, n := range nodes {
		st, err := n.chain.UTXOStats()
		if err != nil {
			s.t.Fatal(err)
		}
		if i == 0 {
			ref = st.Hash
		} else if st.Hash != ref {
			s.t.Fatalf("%s: UTXO sets differ at the same tip", what)
		}
	}
	s.t.Logf("%-40s %2d nodes converged in %s (height %d)", what, len(nodes), took.Round(10*time.Millisecond), nodes[0].chain.Tip().Height)
	return took
}

// partition splits the live nodes into two halves that refuse each
// other, and drops the connections between them.
func partition(a, b []*testNode) {
	side := map[peer.ID]int{}
	for _, n := range a {
		side[n.ID()] = 1
	}
	for _, n := range b {
		side[n.ID()] = 2
	}
	for _, n := range append(append([]*testNode{}, a...), b...) {
		mine := side[n.ID()]
		n.gater.setBlock(func(p peer.ID) bool { s, ok := side[p]; return ok && s != mine })
		for _, p := range n.host.Network().Peers() {
			if s, ok := side[p]; ok && s != mine {
				_ = n.host.Network().ClosePeer(p)
			}
		}
	}
}

func heal(nodes []*testNode) {
	for _, n := range nodes {
		n.gater.setBlock(nil)
	}
}

func TestNetworkSimulation(t *testing.T) {
	full := os.Getenv("TALLY_SIM") != ""
	n, rounds := 8, 1
	if full {
		n, rounds = 64, 3
		if v, err := strconv.Atoi(os.Getenv("TALLY_SIM_NODES")); err == nil && v >= 8 {
			n = v
		}
	}
	s := &simNet{t: t, rng: rand.New(rand.NewPCG(7, 11)), g: testgen.New(devParams)}
	root := t.TempDir()
	for i := 0; i < n; i++ {
		s.nodes = append(s.nodes, &simNode{idx: i, dir: filepath.Join(root, fmt.Sprint(i))})
	}
	start := time.Now()
	for i := 0; i < 2; i++ {
		s.start(i)
		s.boot = append(s.boot, s.nodes[i].tn.Addrs()...)
	}
	for i := 2; i < n; i++ {
		s.start(i)
	}
	waitFor(t, 60*time.Second, "every node with a peer", func() bool {
		for _, tn := range s.live() {
			if tn.Count() == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("%d nodes up in %s", n, time.Since(start).Round(time.Millisecond))
	live := s.live()
	live[0].mine()
	s.converge("first block", live)

	churn := func(label string, from int) {
		var down []int
		for _, i := range s.rng.Perm(n - from) {
			if len(down) >= max(1, n*3/10) {
				break
			}
			if s.nodes[from+i].tn != nil {
				down = append(down, from+i)
			}
		}
		sort.Ints(down)
		for _, i := range down {
			s.crash(i)
		}
		// Blocks are mined while they are down.
		m := s.live()[s.rng.IntN(len(s.live()))]
		m.mine()
		m.mine()
		for _, i := range down {
			s.start(i)
		}
		s.converge(label, s.live())
	}
	for r := 1; r <= rounds; r++ {
		churn(fmt.Sprintf("churn round %d (30%% restarted)", r), 2)
	}
	if full {
		// The bootstrap nodes die for good; another 30% restart.
		for i := 0; i < 2; i++ {
			s.crash(i)
			s.nodes[i].dead = true
		}
		churn("bootstraps gone, 30% restarted", 2)
	}

	// Partition into halves that mine separately; the first half mines
	// more. Lifted, it heals by itself onto the heavier branch.
	live = s.live()
	half := len(live) / 2
	a, b := live[:half], live[half:]
	partition(a, b)
	time.Sleep(time.Second)
	a[0].mine()
	a[0].mine()
	b[0].mine()
	s.converge("half A (partitioned)", a)
	s.converge("half B (partitioned)", b)
	heavy := a[0].chain.Tip().ID
	heal(live)
	s.converge("partition lifted", live)
	if live[0].chain.Tip().ID != heavy {
		t.Fatal("the network did not end on the heavier branch")
	}
	for _, tn := range live {
		if tn.Banned() != 0 {
			t.Errorf("honest churn led to bans: %v", tn.BanList())
		}
	}
}
