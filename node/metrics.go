package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tally/consensus"
	"tally/mempool"
	"tally/p2p"
)

// metrics are the node's Prometheus series (SPEC section 9). The counters
// exist from the start (RPC calls are counted during the warm-up); the
// gauges that read the network and the pool are registered by watch once
// those exist, so no metric reads a part that is not there yet.
type metrics struct {
	reg           *prometheus.Registry
	height        prometheus.Gauge
	blocks        prometheus.Counter
	txs           prometheus.Counter
	blockTime     prometheus.Histogram
	reorgs        prometheus.Counter
	rpcRequests   *prometheus.CounterVec
	blocksRefused prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.height = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tally_chain_height", Help: "Height of the best chain tip."})
	m.blocks = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_blocks_connected_total", Help: "Blocks connected to the best chain."})
	m.txs = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_transactions_validated_total", Help: "Transactions validated in connected blocks."})
	m.blockTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_block_process_seconds", Help: "Time to process one block (validation and storage), whatever path it came by.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.reorgs = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_reorgs_total", Help: "Chain reorganizations."})
	m.rpcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_rpc_requests_total", Help: "JSON-RPC requests by method."}, []string{"method"})
	m.blocksRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_blocks_refused_total", Help: "Blocks refused (rule violations)."})
	m.reg.MustRegister(m.height, m.blocks, m.txs, m.blockTime, m.reorgs, m.rpcRequests, m.blocksRefused,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// watch registers the gauges that read the network and the pool.
func (m *metrics) watch(pn *p2p.Node, pool *mempool.Pool) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_peers", Help: "Connected peers."},
			func() float64 { return float64(pn.Count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_banned_peers", Help: "Peers currently banned."},
			func() float64 { return float64(pn.Banned()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_mempool_transactions", Help: "Transactions in the mempool."},
			func() float64 { return float64(pool.Stats().Count) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_mempool_bytes", Help: "Encoded bytes in the mempool."},
			func() float64 { return float64(pool.Stats().Bytes) }),
	)
}

// observeBlock records one processed block: its time, and a refusal if
// it broke a rule.
func (m *metrics) observeBlock(d time.Duration, err error) {
	m.blockTime.Observe(d.Seconds())
	var re *consensus.RuleError
	if errors.As(err, &re) {
		m.blocksRefused.Inc()
	}
}

// listen opens the metrics endpoint and returns the service serving it.
func (m *metrics) listen(addr string, log *slog.Logger) (func(context.Context) error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return fmt.Errorf("metrics server: %w", err)
		case <-ctx.Done():
		}
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(stopCtx)
		<-errc
		return err
	}, nil
}
