package p2p

import (
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"tally/chain"
	"tally/internal/testgen"
)

func TestZZProfileFullBlock(t *testing.T) {
	if os.Getenv("ZZPROF") == "" {
		t.Skip()
	}
	g := testgen.New(devParams)
	setup, outs := fanOut(g, 100, 47)
	var nodes []*testNode
	for i := 0; i < 3; i++ {
		n := benchNode(t)
		n.processAll(setup)
		nodes = append(nodes, n)
	}
	txs := make([]*chain.Tx, 4700)
	for i := range txs {
		txs[i] = g.Pay(outs[i:i+1], 2, 1000)
	}
	for _, n := range nodes {
		for _, tx := range txs {
			if _, err := n.pool.Accept(tx, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := nodes[0].pool.NewTemplate(g.PKH, time.Now(), 1).Block()
	testgen.Solve(&b.Header, devParams)
	enc := b.Encode()
	f, _ := os.Create("/tmp/prof/full.prof")
	pprof.StartCPUProfile(f)
	for _, n := range nodes {
		start := time.Now()
		bb, err := n.checkBlock(enc, false)
		t.Logf("checkBlock %d txs: %s err %v", len(bb.Txs), time.Since(start), err)
	}
	pprof.StopCPUProfile()
	f.Close()
}
