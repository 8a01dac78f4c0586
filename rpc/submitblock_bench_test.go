package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"tally/chain"
	"tally/chain/indexes"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/wire"
)

// submitBlockTxs is the size of the benchmark's blocks: 2,000 one-input
// two-output payments (about 410 KB, 820 KB of hex).
const submitBlockTxs = 2000

// BenchmarkSubmitBlock sends blocks of submitBlockTxs real signed
// transactions with submitblock to the RPC server over HTTP, as a
// dev node is set up (chain on disk, both indexes, the signature cache, a
// mempool following the chain), and after each block verifies the same
// signatures raw on every core: txs/s, raw_verifies/s, and pct_of_raw =
// connect rate / raw rate, the median over the blocks. Each block's time
// is the client's: from sending the body to reading the answer.
// TALLY_SUBMIT_BLOCKS sets the number of blocks (default 10).
func BenchmarkSubmitBlock(b *testing.B) {
	nblocks := 10
	if v, err := strconv.Atoi(os.Getenv("TALLY_SUBMIT_BLOCKS")); err == nil && v > 0 {
		nblocks = v
	}
	p := testgen.DevParams()
	g := testgen.New(p)
	setup, parent, queue := g.FanOut(g.Genesis(), 8000)
	var (
		bodies [][]byte
		jobs   [][]testgen.SigJob
		nsigs  int
	)
	for range nblocks {
		txs := g.SpendOldest(&queue, submitBlockTxs)
		blk := g.Block(parent, txs)
		parent = testgen.ParentOf(blk, parent.Height+1)
		bodies = append(bodies, []byte(`{"jsonrpc":"2.0","id":1,"method":"submitblock","params":["`+hex.EncodeToString(blk.Encode())+`"]}`))
		jobs = append(jobs, testgen.SigJobs(txs, p.NetworkID))
		nsigs += len(jobs[len(jobs)-1])
	}
	var connect, raw time.Duration
	var ratios []float64
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		url, stop := submitBlockNode(b, p, setup)
		for i, body := range bodies {
			start := time.Now()
			b.StartTimer()
			resp, err := http.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			reply, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			b.StopTimer()
			ct := time.Since(start)
			if err != nil || !bytes.Equal(bytes.TrimSpace(reply), []byte(`{"jsonrpc":"2.0","result":null,"id":1}`)) {
				b.Fatalf("block %d: %s %v", i, reply, err)
			}
			rt, err := testgen.VerifyRaw(jobs[i])
			if err != nil {
				b.Fatal(err)
			}
			connect += ct
			raw += rt
			ratios = append(ratios, rt.Seconds()/ct.Seconds())
		}
		stop()
	}
	b.ReportMetric(float64(nblocks*submitBlockTxs*b.N)/connect.Seconds(), "txs/s")
	b.ReportMetric(float64(nsigs*b.N)/raw.Seconds(), "raw_verifies/s")
	b.ReportMetric(float64(connect.Milliseconds())/float64(nblocks*b.N), "ms/block")
	slices.Sort(ratios)
	b.ReportMetric(100*ratios[len(ratios)/2], "pct_of_raw")
}

// submitBlockNode starts a chain on disk with setup connected and an RPC
// server for it, and returns the URL (credentials included) and a stop
// function.
func submitBlockNode(b *testing.B, p *consensus.Params, setup []*wire.Block) (string, func()) {
	sigs := consensus.NewSigCache(200_000)
	txix, addrix := indexes.NewTxIndex(), indexes.NewAddrIndex()
	c, err := chain.Open(b.TempDir(), chain.Config{Params: p, CacheBytes: 256 << 20, SigCache: sigs,
		Now: func() time.Time { return fixtureNow }, Indexers: []chain.Indexer{txix, addrix}})
	if err != nil {
		b.Fatal(err)
	}
	for _, blk := range setup {
		if _, err := c.ProcessBlock(blk); err != nil {
			b.Fatal(err)
		}
	}
	pool := mempool.New(mempool.Config{Chain: c, SigCache: sigs, Now: func() time.Time { return fixtureNow }})
	c.Subscribe(pool.HandleChainEvents)
	srv, err := New(Config{Params: p, Listen: "127.0.0.1:0", User: "u", Password: "p", Dev: true,
		Now: func() time.Time { return fixtureNow }},
		Deps{Chain: c, Mempool: pool, TxIndex: TxIndexOn(txix, c.DB()), AddrIndex: AddrIndexOn(addrix, c.DB())})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	return "http://u:p@" + srv.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
