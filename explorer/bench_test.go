//go:build unix

package explorer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"tally/internal/testgen"
)

// BenchmarkPages renders every page over HTTP from an explorer on a real
// RPC server holding a dev chain of TALLY_EXPLORER_BENCH blocks (1 means
// 100,000) with payments in every 500th block and in the last 100, and
// 1,500 transactions in the pool. It is off by default: building the
// chain takes minutes. See docs/performance.md.
func BenchmarkPages(b *testing.B) {
	n, err := strconv.Atoi(os.Getenv("TALLY_EXPLORER_BENCH"))
	if err != nil || n <= 0 {
		b.Skip("set TALLY_EXPLORER_BENCH=1 (100,000 blocks) or a number of blocks")
	}
	if n == 1 {
		n = 100_000
	}
	start := time.Now()
	p := testgen.DevParams()
	far := time.Unix(int64(p.GenesisTime)+int64(n+10)*p.TargetSpacing, 0)
	const poolSize = 1500
	fees := make([]uint64, poolSize)
	for i := range fees {
		fees[i] = 300 + uint64(i%40)*250
	}
	tn := buildTestNode(b, nodeOpts{
		blocks: n,
		split:  2 * poolSize,
		pays: func(h int) int {
			switch {
			case h > n-100:
				return 5
			case h%500 == 0:
				return 2
			}
			return 0
		},
		poolFees: fees,
		now:      func() time.Time { return far },
	}, Config{Rate: 1e9, Burst: 1 << 30, Now: func() time.Time { return far }})
	b.Logf("built %d blocks and a pool of %d in %s", n, poolSize, time.Since(start).Round(time.Second))
	tip, height := tn.tip()
	last := tn.payments[len(tn.payments)-1]
	pages := []struct{ name, path string }{
		{"home", "/"},
		{"home-fragment", "/fragment/home"},
		{"api-tip", "/api/tip"},
		{"block-tip", "/block/" + tip.BlockID().String()},
		{"block-by-height", fmt.Sprintf("/block/%d", height/2)},
		{"tx-confirmed", "/tx/" + last.TxID().String()},
		{"tx-mempool", "/tx/" + tn.poolTxs[len(tn.poolTxs)-1].TxID().String()},
		{"proof", "/tx/" + last.TxID().String() + "/proof"},
		{"address", "/address/" + tn.otherAddr},
		{"address-later-page", "/address/" + tn.otherAddr + "?after=" + fmt.Sprintf("%d:%s", height/2, tip.Txs[0].TxID())},
		{"mempool", "/mempool"},
		{"search-height", fmt.Sprintf("/search?q=%d", height-5)},
		{"not-found", "/tx/" + fmt.Sprintf("%064x", 7)},
	}
	// The same pages from a fresh explorer each time, without its caches
	// (the home page's block rows, the pool scan), and without HTTP.
	for name, path := range map[string]string{"uncached-home": "/", "uncached-mempool": "/mempool"} {
		b.Run(name, func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				ex, err := New(Config{Listen: "127.0.0.1:0", Now: func() time.Time { return far }}, tn.rpc)
				if err != nil {
					b.Fatal(err)
				}
				rec := httptest.NewRecorder()
				ex.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: status %d", path, rec.Code)
				}
			}
			reportPage(b, cpu)
		})
	}
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				st, _, _ := tn.get(pg.path)
				if st != http.StatusOK && st != http.StatusSeeOther && !(pg.name == "not-found" && st == http.StatusNotFound) {
					b.Fatalf("%s: status %d", pg.path, st)
				}
			}
			reportPage(b, cpu)
		})
	}
}

// cpuTime is the CPU time the process has used: on a shared machine the
// wall-clock time of a page depends on the load, its CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPage reports the wall-clock and CPU milliseconds per page (the
// CPU time of the whole process: explorer, RPC server and HTTP client).
func reportPage(b *testing.B, cpuStart time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/n, "ms/page")
	b.ReportMetric(float64((cpuTime()-cpuStart).Microseconds())/1000/n, "cpu-ms/page")
}
