package p2p

import (
	"testing"
	"time"

	"tally/internal/testgen"
)

// TestFiveNodesDiscoverAndGossip: five nodes, only the first known as a
// bootstrap peer, find each other through the DHT rendezvous; a
// transaction sent to one node reaches every mempool, and blocks mined on
// different nodes reach every chain.
func TestFiveNodesDiscoverAndGossip(t *testing.T) {
	boot := newTestNode(t).start()
	nodes := []*testNode{boot}
	for i := 0; i < 4; i++ {
		nodes = append(nodes, newTestNode(t, withBootstrap(boot.Addrs()...)).start())
	}
	waitFor(t, 60*time.Second, "every node connected to the four others", func() bool {
		for _, n := range nodes {
			if n.Count() != 4 {
				return false
			}
		}
		return true
	})
	waitMesh(t, nodes, 4)

	g := testgen.New(devParams)
	tx := g.Pay(g.GenesisSpends(), 4, 10000)
	nodes[2].submitTx(tx)
	waitFor(t, 10*time.Second, "the transaction in every mempool", func() bool {
		for _, n := range nodes {
			if !n.pool.Has(tx.TxID()) {
				return false
			}
		}
		return true
	})

	for _, miner := range []int{3, 1, 4} {
		id := nodes[miner].mine()
		waitFor(t, 10*time.Second, "the block on every node", func() bool {
			for _, n := range nodes {
				if n.chain.Tip().ID != id {
					return false
				}
			}
			return true
		})
	}
	for i, n := range nodes {
		if n.pool.Has(tx.TxID()) {
			t.Errorf("node %d: mined transaction still in the pool", i)
		}
		st := n.Stats()
		if st.BlocksRejected != 0 || st.TxsRejected != 0 || n.Banned() != 0 {
			t.Errorf("node %d: honest traffic rejected: %+v", i, st)
		}
		if len(n.Peers()) != 4 {
			t.Errorf("node %d: %d peers listed", i, len(n.Peers()))
		}
	}
}
