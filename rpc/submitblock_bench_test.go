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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"

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
// TALLY_SUBMIT_BLOCKS sets the number of blocks (default 10);
// TALLY_SUBMIT_NOINDEX=1 leaves the indexes out. It also reports the
// bytes the process wrote to disk per byte of block, what each index adds
// in LevelDB's batch encoding per byte of block, and LevelDB's
// compaction time as a share of the process's CPU time.
func BenchmarkSubmitBlock(b *testing.B) {
	nblocks := 10
	if v, err := strconv.Atoi(os.Getenv("TALLY_SUBMIT_BLOCKS")); err == nil && v > 0 {
		nblocks = v
	}
	p := testgen.DevParams()
	g := testgen.New(p)
	setup, parent, queue := g.FanOut(g.Genesis(), 8000)
	var (
		bodies     [][]byte
		jobs       [][]testgen.SigJob
		nsigs      int
		blockBytes int64
	)
	for range nblocks {
		txs := g.SpendOldest(&queue, submitBlockTxs)
		blk := g.Block(parent, txs)
		parent = testgen.ParentOf(blk, parent.Height+1)
		raw := blk.Encode()
		blockBytes += int64(len(raw))
		bodies = append(bodies, []byte(`{"jsonrpc":"2.0","id":1,"method":"submitblock","params":["`+hex.EncodeToString(raw)+`"]}`))
		jobs = append(jobs, testgen.SigJobs(txs, p.NetworkID))
		nsigs += len(jobs[len(jobs)-1])
	}
	var connect, raw time.Duration
	var ratios []float64
	var written, compactNs, cpuNs int64
	var ixs []*batchBytes
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		url, db, ixBytes, stop := submitBlockNode(b, p, setup)
		w0, cpu0, comp0 := procWriteBytes(b), procCPU(), compactionTime(db)
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
		comp1 := compactionTime(db) // before stop closes the database
		stop()                      // includes the final UTXO flush
		written += procWriteBytes(b) - w0
		for _, c := range ixBytes {
			c.bytes -= c.setup // the setup blocks' share
		}
		ixs = ixBytes
		cpuNs += int64(procCPU() - cpu0)
		compactNs += int64(comp1 - comp0)
	}
	b.ReportMetric(float64(nblocks*submitBlockTxs*b.N)/connect.Seconds(), "txs/s")
	b.ReportMetric(float64(nsigs*b.N)/raw.Seconds(), "raw_verifies/s")
	b.ReportMetric(float64(connect.Milliseconds())/float64(nblocks*b.N), "ms/block")
	slices.Sort(ratios)
	b.ReportMetric(100*ratios[len(ratios)/2], "pct_of_raw")
	// Disk bytes written by the process (blocks, undo, index, UTXO set,
	// indexes, LevelDB journal and compactions; the raw verification
	// writes nothing) per byte of block connected.
	if written >= 0 {
		b.ReportMetric(float64(written)/float64(blockBytes*int64(b.N)), "written/block_byte")
	}
	// What each index's entries take in LevelDB's batch encoding, per
	// byte of block.
	for _, c := range ixs {
		b.ReportMetric(float64(c.bytes)/float64(blockBytes), c.name+"_batch/block_byte")
	}
	// LevelDB's compaction time (from its stats) over the process's CPU
	// time during the run.
	b.ReportMetric(100*float64(compactNs)/float64(cpuNs), "pct_cpu_compaction")
}

// procWriteBytes returns write_bytes of /proc/self/io (bytes this process
// caused to be written to storage), or -1 where there is none.
func procWriteBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1 << 62
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	return -1 << 62
}

// procCPU returns the process's user and system CPU time.
func procCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// compactionTime returns the total Time(sec) of LevelDB's compaction stats.
func compactionTime(db *leveldb.DB) time.Duration {
	stats, err := db.GetProperty("leveldb.stats")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(stats, "\n") {
		f := strings.Split(line, "|")
		if len(f) == 6 && strings.TrimSpace(f[0]) == "Total" {
			v, _ := strconv.ParseFloat(strings.TrimSpace(f[3]), 64)
			return time.Duration(v * float64(time.Second))
		}
	}
	return 0
}

// batchBytes counts the bytes of an index's entries in the batches they
// are written with.
type batchBytes struct {
	chain.Indexer
	name         string
	bytes, setup int
}

func (c *batchBytes) ConnectBlock(batch *leveldb.Batch, blk *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	n := len(batch.Dump())
	c.Indexer.ConnectBlock(batch, blk, txids, height, spent)
	c.bytes += len(batch.Dump()) - n
}

// submitBlockNode starts a chain on disk with setup connected and an RPC
// server for it, and returns the URL (credentials included), the
// database, the indexes' batch byte counts and a stop function.
func submitBlockNode(b *testing.B, p *consensus.Params, setup []*wire.Block) (string, *leveldb.DB, []*batchBytes, func()) {
	sigs := consensus.NewSigCache(200_000)
	txix, addrix := indexes.NewTxIndex(), indexes.NewAddrIndex()
	counted := []*batchBytes{{Indexer: txix, name: "txindex"}, {Indexer: addrix, name: "addrindex"}}
	ixs := []chain.Indexer{counted[0], counted[1]}
	if os.Getenv("TALLY_SUBMIT_NOINDEX") != "" {
		ixs, counted = nil, nil // to tell the indexes' share of the writes from the chain's
	}
	c, err := chain.Open(b.TempDir(), chain.Config{Params: p, CacheBytes: 256 << 20, SigCache: sigs,
		Now: func() time.Time { return fixtureNow }, Indexers: ixs})
	if err != nil {
		b.Fatal(err)
	}
	for _, blk := range setup {
		if _, err := c.ProcessBlock(blk); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.WriteIndexes(); err != nil { // builds the setup blocks' entries
		b.Fatal(err)
	}
	for _, ix := range counted {
		ix.setup = ix.bytes
	}
	pool := mempool.New(mempool.Config{Chain: c, SigCache: sigs, Now: func() time.Time { return fixtureNow }})
	c.Subscribe(pool.HandleChainEvents)
	srv, err := New(Config{Params: p, Listen: "127.0.0.1:0", User: "u", Password: "p", Dev: true,
		Now: func() time.Time { return fixtureNow }},
		Deps{Chain: c, Mempool: pool, TxIndex: TxIndexOn(txix, c.IndexDB()), AddrIndex: AddrIndexOn(addrix, c.IndexDB())})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	return "http://u:p@" + srv.Addr(), c.DB(), counted, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
