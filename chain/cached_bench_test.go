package chain

import (
	"sync"
	"testing"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// The cached-connect benchmark's chain: the genesis allocation fanned out
// over cachedTxs outputs in two blocks, then one full (~1 MB) block of
// cachedTxs one-input two-output transactions whose signatures are already
// in the signature cache, as they are on a node that relayed them: what a
// node spends connecting a full block it learns from a peer.
const (
	cachedFirstFan = 100
	cachedTxs      = 4700
)

var (
	cachedOnce  sync.Once
	cachedSetup []*wire.Block
	cachedBlock *wire.Block
)

func cachedBuild() ([]*wire.Block, *wire.Block) {
	cachedOnce.Do(func() {
		p := testgen.DevParams()
		g := testgen.New(p)
		parent := g.Genesis()
		add := func(txs []*wire.Tx) *wire.Block {
			b := g.Block(parent, txs)
			parent = testgen.ParentOf(b, parent.Height+1)
			return b
		}
		first := g.Pay(g.GenesisSpends(), cachedFirstFan, 0)
		cachedSetup = append(cachedSetup, add([]*wire.Tx{first}))
		var fan []*wire.Tx
		for _, s := range testgen.Outputs(first) {
			fan = append(fan, g.Pay([]testgen.Spend{s}, cachedTxs/cachedFirstFan, 1000))
		}
		cachedSetup = append(cachedSetup, add(fan))
		var txs []*wire.Tx
		for _, tx := range fan {
			for _, s := range testgen.Outputs(tx) {
				txs = append(txs, g.Pay([]testgen.Spend{s}, 2, 200))
			}
		}
		cachedBlock = add(txs)
	})
	return cachedSetup, cachedBlock
}

// BenchmarkConnectCachedBlock measures ProcessBlock of a full block whose
// signatures are all in the signature cache, on in-memory storage with a
// 32 MiB UTXO cache: the CPU a relaying node spends per full block.
func BenchmarkConnectCachedBlock(b *testing.B) {
	setup, blk := cachedBuild()
	p := testgen.DevParams()
	if size := blk.SerializeSize(); size < 900_000 {
		b.Fatalf("block is %d bytes", size)
	}
	sc := consensus.NewSigCache(100_000)
	for _, tx := range blk.Txs[1:] {
		if err := consensus.CheckTxSignatures(tx, tx.TxID(), p.NetworkID, sc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c, err := OpenMemory(Config{Params: p, CacheBytes: 32 << 20, Now: crashNow, SigCache: sc, NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range setup {
			if _, err := c.ProcessBlock(s); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		res, err := c.ProcessBlock(blk)
		b.StopTimer()
		if err != nil || res != MainChain {
			b.Fatalf("%v %v", res, err)
		}
		c.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(blk.Txs)-1), "txs/block")
}
