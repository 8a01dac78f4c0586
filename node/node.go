package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tally/chain"
	"tally/chain/indexes"
	"tally/consensus"
	"tally/mempool"
	"tally/mining"
	"tally/p2p"
	"tally/rpc"
	"tally/wallet"
	"tally/wire"
)

// DevWalletPassphrase is the passphrase of <datadir>/dev.wallet.
const DevWalletPassphrase = "dev"

// Node is a running full node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	params  *consensus.Params
	dataDir string
	chain   *chain.Chain
	pool    *mempool.Pool
	sigs    *consensus.SigCache
	miner   *mining.Miner
	p2p     *p2p.Node
	metrics *metrics
	started time.Time
	stop    context.CancelFunc

	minerPKH [20]byte
}

// sigCacheEntries bounds the signature cache shared by mempool and blocks
// (about 100 bytes an entry).
const sigCacheEntries = 200_000

// Run starts a node with cfg and blocks until ctx ends or the node is told
// to stop (RPC stop), then shuts it down cleanly.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	params, err := cfg.LoadParams()
	if err != nil {
		return err
	}
	dir := cfg.DataDir
	if dir == "" {
		if dir, err = DefaultDataDir(params.Network); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create datadir: %w", err)
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer lock.Close()

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	n := &Node{cfg: cfg, log: cfg.Logger, params: params, dataDir: dir, started: time.Now(), stop: stop,
		sigs: consensus.NewSigCache(sigCacheEntries)}
	return n.run(ctx)
}

func (n *Node) run(ctx context.Context) error {
	cfg := n.cfg
	if cfg.Mine || cfg.MinerAddress != "" {
		addr := cfg.MinerAddress
		if addr == "" && cfg.Dev {
			addr, _ = wire.EncodeAddress(n.params.AddressPrefix, consensus.DevPKH())
		}
		if addr == "" {
			return errors.New("--mine needs --miner-address (an address of this network)")
		}
		pkh, err := wire.DecodeAddress(n.params.AddressPrefix, addr)
		if err != nil {
			return fmt.Errorf("--miner-address: %w", err)
		}
		n.minerPKH = pkh
	}

	var ix indexSet
	if cfg.TxIndex || cfg.Dev {
		ix.tx = indexes.NewTxIndex()
	}
	if cfg.AddrIndex || cfg.Dev {
		ix.addr = indexes.NewAddrIndex()
	}
	n.log.Info("opening chain", "network", n.params.Network, "datadir", n.dataDir, "genesis", n.params.GenesisID)
	c, err := chain.Open(filepath.Join(n.dataDir, "chain"), chain.Config{
		Params:     n.params,
		CacheBytes: cfg.DBCacheMB << 20,
		SigCache:   n.sigs,
		Indexers:   ix.indexers(),
	})
	if err != nil {
		return err
	}
	n.chain = c
	defer func() {
		if err := c.Close(); err != nil {
			n.log.Error("closing chain", "err", err)
		} else {
			n.log.Info("chain state flushed and closed")
		}
	}()
	tip := c.Tip()
	n.log.Info("chain loaded", "height", tip.Height, "tip", tip.ID)
	if err := ix.catchup(c); err != nil {
		return fmt.Errorf("build indexes: %w", err)
	}

	recorder := rpc.NewRecorder(10_000, 24*time.Hour, nil)
	n.pool = mempool.New(mempool.Config{
		Chain:       c,
		SigCache:    n.sigs,
		MaxBytes:    cfg.MaxMempoolMB << 20,
		MinRelayFee: cfg.MinRelayFee,
		OnRemove:    recorder.PoolRemoved,
	})
	c.Subscribe(n.pool.HandleChainEvents)
	c.Subscribe(recorder.HandleChainEvents)

	n.metrics = newMetrics(
		func() float64 {
			if n.p2p == nil {
				return 0
			}
			return float64(n.p2p.Count())
		},
		func() float64 { return float64(n.pool.Stats().Count) },
		func() float64 { return float64(n.pool.Stats().Bytes) },
		func() float64 {
			if n.p2p == nil {
				return 0
			}
			return float64(n.p2p.Banned())
		})
	n.metrics.height.Set(float64(tip.Height))
	c.Subscribe(n.onChainEvents)

	if cfg.Dev {
		if err := n.writeDevWallet(); err != nil {
			return err
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	if cfg.Metrics != "" {
		srv, err := n.serveMetrics(cfg.Metrics)
		if err != nil {
			return err
		}
		defer srv.Close()
	}

	n.miner = mining.New(mining.Config{Chain: c, Pool: n.pool, PKH: n.minerPKH, Submit: n.SubmitBlock, MinInterval: n.mineInterval()})

	pn, err := n.startP2P(ctx)
	if err != nil {
		return err
	}
	n.p2p = pn
	defer func() {
		if err := pn.Close(); err != nil {
			n.log.Warn("closing p2p", "err", err)
		}
	}()

	rpcSrv, err := n.startRPC(ix, pn, recorder)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rpcSrv.Stop(stopCtx); err != nil {
			n.log.Warn("stopping rpc", "err", err)
		}
	}()

	if cfg.Explorer != "" {
		if err := n.startExplorer(ctx, &wg, rpcSrv); err != nil {
			return err
		}
	}

	if cfg.Mine {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, _ := wire.EncodeAddress(n.params.AddressPrefix, n.minerPKH)
			n.log.Info("mining", "address", addr)
			n.miner.Run(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.reportProgress(ctx)
	}()
	if cfg.Dev {
		n.printDevHelp(rpcSrv.Addr(), rpcSrv.CookiePath())
	}

	<-ctx.Done()
	n.log.Info("shutting down")
	return nil
}

// mineInterval spaces dev blocks about a second apart.
func (n *Node) mineInterval() time.Duration {
	if n.cfg.Dev {
		return time.Second
	}
	return 0
}

// SubmitBlock processes a block from the miner or RPC.
func (n *Node) SubmitBlock(b *wire.Block) error {
	start := time.Now()
	res, err := n.chain.ProcessBlock(b)
	n.metrics.blockTime.Observe(time.Since(start).Seconds())
	var re *consensus.RuleError
	if errors.As(err, &re) {
		n.metrics.blocksRefused.Inc()
	}
	if err != nil {
		return err
	}
	if res == chain.MainChain {
		n.log.Debug("block accepted", "id", b.BlockID(), "txs", len(b.Txs))
		if n.p2p != nil {
			if err := n.p2p.PublishBlock(b); err != nil {
				n.log.Warn("publishing block", "err", err)
			}
		}
	}
	return nil
}

func (n *Node) onChainEvents(events []chain.Event) {
	disconnected := false
	for _, ev := range events {
		switch ev.Kind {
		case chain.BlockConnected:
			n.metrics.blocks.Inc()
			n.metrics.txs.Add(float64(len(ev.Block.Txs)))
		case chain.BlockDisconnected:
			disconnected = true
		}
	}
	if disconnected {
		n.metrics.reorgs.Inc()
		n.log.Info("chain reorganized", "tip", n.chain.Tip().ID, "height", n.chain.Tip().Height)
	}
	n.metrics.height.Set(float64(n.chain.Tip().Height))
}

func (n *Node) serveMetrics(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	n.log.Info("metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
	return srv, nil
}

// writeDevWallet writes the dev key as <datadir>/dev.wallet (passphrase
// "dev") unless it exists.
func (n *Node) writeDevWallet() error {
	path := filepath.Join(n.dataDir, "dev.wallet")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	w, err := wallet.Create(path, []byte(DevWalletPassphrase), nil,
		wallet.Network{Name: n.params.Network, AddressPrefix: n.params.AddressPrefix}, wallet.DefaultKDFParams())
	if err != nil {
		return fmt.Errorf("write dev wallet: %w", err)
	}
	if _, err := w.ImportKey(consensus.DevPrivateKey()); err != nil {
		return fmt.Errorf("write dev wallet: %w", err)
	}
	if err := w.Save(); err != nil {
		return fmt.Errorf("write dev wallet: %w", err)
	}
	return nil
}

// tipRecent reports whether the tip is recent (within 24 target spacings,
// at least an hour) — the node's view of "caught up".
func (n *Node) tipRecent() (bool, string) {
	tip := n.chain.Tip()
	age := time.Since(time.Unix(int64(tip.Header.Time), 0))
	limit := max(time.Duration(n.params.TargetSpacing)*24*time.Second, time.Hour)
	if tip.Height == 0 || age > limit {
		return false, fmt.Sprintf("tip at height %d is %s old", tip.Height, age.Round(time.Second))
	}
	return true, ""
}

// reportProgress logs sync progress every 10 s while the tip is old.
func (n *Node) reportProgress(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	last := n.chain.Tip().Height
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tip := n.chain.Tip()
		if ok, _ := n.tipRecent(); ok || tip.Height == last {
			last = tip.Height
			continue
		}
		rate := float64(tip.Height-last) / 10
		last = tip.Height
		now := time.Now().Unix()
		g := int64(n.params.GenesisTime)
		pct := 100.0
		if now > g {
			pct = 100 * float64(int64(tip.Header.Time)-g) / float64(now-g)
		}
		remaining := float64(now-int64(tip.Header.Time)) / float64(n.params.TargetSpacing)
		eta := "unknown"
		if rate > 0 {
			eta = (time.Duration(remaining/rate) * time.Second).String()
		}
		n.log.Info("syncing", "height", tip.Height, "percent", fmt.Sprintf("%.2f", pct), "blocks_per_s", fmt.Sprintf("%.1f", rate), "eta", eta)
	}
}
