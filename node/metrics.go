package node

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus series (SPEC section 9).
type metrics struct {
	reg           *prometheus.Registry
	height        prometheus.Gauge
	peers         prometheus.GaugeFunc
	mempoolTxs    prometheus.GaugeFunc
	mempoolBytes  prometheus.GaugeFunc
	blocks        prometheus.Counter
	txs           prometheus.Counter
	blockTime     prometheus.Histogram
	reorgs        prometheus.Counter
	banned        prometheus.GaugeFunc
	rpcRequests   *prometheus.CounterVec
	blocksRefused prometheus.Counter
}

func newMetrics(peers, poolTxs, poolBytes, banned func() float64) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.height = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tally_chain_height", Help: "Height of the best chain tip."})
	m.peers = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_peers", Help: "Connected peers."}, peers)
	m.mempoolTxs = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_mempool_transactions", Help: "Transactions in the mempool."}, poolTxs)
	m.mempoolBytes = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_mempool_bytes", Help: "Encoded bytes in the mempool."}, poolBytes)
	m.blocks = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_blocks_connected_total", Help: "Blocks connected to the best chain."})
	m.txs = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_transactions_validated_total", Help: "Transactions validated in connected blocks."})
	m.blockTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tally_block_process_seconds", Help: "Time to process one block (validation and storage).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.reorgs = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_reorgs_total", Help: "Chain reorganizations."})
	m.banned = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_banned_peers", Help: "Peers currently banned."}, banned)
	m.rpcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_rpc_requests_total", Help: "JSON-RPC requests by method."}, []string{"method"})
	m.blocksRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "tally_blocks_refused_total", Help: "Blocks refused (rule violations)."})
	m.reg.MustRegister(m.height, m.peers, m.mempoolTxs, m.mempoolBytes, m.blocks, m.txs, m.blockTime, m.reorgs, m.banned, m.rpcRequests, m.blocksRefused,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
