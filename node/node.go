package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/internal/version"
	"tally/mempool"
	"tally/mining"
	"tally/p2p"
	"tally/rpc"
	"tally/wallet"
	"tally/wire"
)

// DevWalletPassphrase is the passphrase of <datadir>/dev.wallet.
const DevWalletPassphrase = "dev"

// Node is a running full node. Its parts are set once by run before any
// service starts and never change after.
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
	rpc     *rpc.Server
	events  *rpc.EventHub
	metrics *metrics
	started time.Time
	stop    context.CancelFunc

	minerPKH [20]byte
}

// sigCacheEntries bounds the signature cache shared by mempool and blocks
// (about 100 bytes an entry).
const sigCacheEntries = 200_000

// Run starts a node with cfg and blocks until ctx ends, the node is told
// to stop (RPC stop) or a service fails (a storage failure), then shuts
// it down in order (see lifecycle.go) and flushes the chain state. It
// returns the failure, or nil after a requested stop.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = DefaultProgressInterval
	}
	if cfg.NoPeersInterval <= 0 {
		cfg.NoPeersInterval = DefaultNoPeersInterval
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

// run assembles the node, then runs its services until ctx ends.
func (n *Node) run(ctx context.Context) (err error) {
	cfg := n.cfg
	if err := n.setMinerAddress(); err != nil {
		return err
	}
	n.banner()
	n.metrics = newMetrics()

	// RPC first, so that clients get -28 instead of "connection refused"
	// while the chain loads and indexes are built (SPEC section 9).
	n.rpc, err = n.openRPC()
	if err != nil {
		return err
	}
	rpcHanded := false
	defer func() {
		if !rpcHanded {
			stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = n.rpc.Stop(stopCtx)
		}
	}()

	if cfg.StartDelay > 0 {
		n.log.Info("start-up delayed", "for", cfg.StartDelay)
		select {
		case <-time.After(cfg.StartDelay):
		case <-ctx.Done():
			return nil
		}
	}
	ix := newIndexSet(cfg)
	av, err := cfg.assumeValid(n.params)
	if err != nil {
		return err
	}
	if !av.IsZero() {
		n.log.Info("assumevalid: signatures of the assumed block's ancestors are not checked", "block", av)
	}
	n.log.Info("opening chain", "datadir", filepath.Join(n.dataDir, "chain"))
	c, err := chain.Open(filepath.Join(n.dataDir, "chain"), chain.Config{
		Params:      n.params,
		CacheBytes:  cfg.DBCacheMB << 20,
		PruneBytes:  int64(cfg.PruneMB) << 20,
		AssumeValid: av,
		SigCache:    n.sigs,
		Indexers:    ix.indexers(),
		BlocksDir:   filepath.Join(n.dataDir, "blocks"),
		BlockFS:     cfg.blockFS,
	})
	if err != nil {
		return err
	}
	n.chain = c
	// Closed after every service has stopped: the final flush.
	defer func() {
		if cerr := c.Close(); cerr != nil {
			n.log.Error("closing chain", "err", cerr)
			if err == nil {
				err = fmt.Errorf("closing the chain state: %w", cerr)
			}
		} else {
			n.log.Info("chain state flushed and closed")
		}
	}()
	tip := c.Tip()
	n.log.Info("chain loaded", "height", tip.Height, "tip", tip.ID)
	if ix.any() {
		n.rpc.SetStatus("Building indexes...")
		n.log.Info("building indexes", "txindex", ix.tx != nil, "addrindex", ix.addr != nil)
		if err := ix.catchup(c); err != nil {
			return fmt.Errorf("build indexes: %w", err)
		}
	}
	if ctx.Err() != nil {
		return nil // stopped while loading
	}

	// The event hub subscribes before the pool: a block's event comes
	// before the txgone "mined" of its transactions.
	n.events = rpc.NewEventHub(0, 0, tip.ID, tip.Height)
	c.Subscribe(n.events.HandleChainEvents)
	recorder := rpc.NewRecorder(10_000, 24*time.Hour, nil)
	n.pool = mempool.New(mempool.Config{
		Chain:       c,
		SigCache:    n.sigs,
		MaxBytes:    cfg.MaxMempoolMB << 20,
		MinRelayFee: cfg.MinRelayFee,
		OnRemove:    recorder.PoolRemoved,
		OnChange:    n.events.PoolChanged,
	})
	c.Subscribe(n.pool.HandleChainEvents)
	c.Subscribe(recorder.HandleChainEvents)

	if cfg.Dev {
		if err := n.writeDevWallet(); err != nil {
			return err
		}
	}
	n.miner = mining.New(mining.Config{Chain: c, Pool: n.pool, PKH: n.minerPKH, Submit: n.SubmitBlock, MinInterval: n.mineInterval()})
	n.p2p, err = n.newP2P()
	if err != nil {
		return err
	}
	n.metrics.watch(n.p2p, n.pool)
	n.metrics.height.Set(float64(tip.Height))
	c.Subscribe(n.onChainEvents)

	var svc services
	svc.add(stageFront, "rpc", n.rpc.Run)
	if cfg.Metrics != "" {
		run, err := n.metrics.listen(cfg.Metrics, n.log)
		if err != nil {
			n.p2p.Close()
			return err
		}
		svc.add(stageFront, "metrics", run)
	}
	if cfg.Explorer != "" {
		run, err := n.openExplorer()
		if err != nil {
			n.p2p.Close()
			return err
		}
		svc.add(stageFront, "explorer", run)
	}
	if cfg.Mine {
		svc.add(stageFront, "miner", n.runMiner)
	}
	svc.add(stageFront, "progress", n.reportProgress)
	if !cfg.Dev {
		svc.add(stageFront, "peer-watch", n.watchPeers)
	}
	svc.add(stageNetwork, "p2p", n.p2p.Run)
	svc.add(stagePool, "mempool", n.pool.Run)
	// The chain's Run flushes periodically and returns a storage failure
	// from any path, which stops the node.
	svc.add(stageChain, "chain", c.Run)
	svc.add(stageChain, "events", func(ctx context.Context) error {
		<-ctx.Done()
		n.events.Close()
		return nil
	})

	if err := n.rpc.Ready(n.rpcDeps(ix, recorder)); err != nil {
		return err
	}
	rpcHanded = true
	n.log.Info("node ready", "network", n.params.Network, "height", tip.Height, "rpc", "http://"+n.rpc.Addr())
	if cfg.Dev {
		n.printDevHelp(n.rpc.Addr(), n.rpc.CookiePath())
	}
	err = svc.run(ctx, n.log)
	if err != nil {
		n.log.Error("stopping after a failure", "err", err)
	} else {
		n.log.Info("shut down")
	}
	return err
}

// banner logs what is running, with the settings in force.
func (n *Node) banner() {
	cfgFile := n.cfg.ConfigFile
	if cfgFile == "" {
		cfgFile = "none"
	}
	txOn, addrOn := n.cfg.indexesOn()
	n.log.Info("Tally noded starting", "version", version.String(), "network", n.params.Network,
		"genesis", n.params.GenesisID, "datadir", n.dataDir, "config", cfgFile,
		"dbcache_mb", n.cfg.DBCacheMB, "maxmempool_mb", n.cfg.MaxMempoolMB, "minrelayfee", n.cfg.MinRelayFee,
		"txindex", txOn, "addrindex", addrOn, "mine", n.cfg.Mine)
}

func (n *Node) setMinerAddress() error {
	cfg := n.cfg
	if !cfg.Mine && cfg.MinerAddress == "" {
		return nil
	}
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
	return nil
}

// mineInterval spaces dev blocks about a second apart.
func (n *Node) mineInterval() time.Duration {
	if n.cfg.Dev {
		return time.Second
	}
	return 0
}

func (n *Node) runMiner(ctx context.Context) error {
	addr, _ := wire.EncodeAddress(n.params.AddressPrefix, n.minerPKH)
	n.log.Info("mining", "address", addr)
	return n.miner.Run(ctx)
}

// SubmitBlock processes a block from the miner and announces it when it
// extends the best chain.
func (n *Node) SubmitBlock(b *wire.Block) error {
	res, err := n.processBlock(b, nil, chain.Source{Origin: chain.OriginLocal})
	if err == nil && res == chain.MainChain {
		if err := n.p2p.PublishBlock(b); err != nil {
			n.log.Warn("publishing block", "err", err)
		}
	}
	return err
}

// processBlock is the chain's ProcessBlock, timed and counted for the
// metrics; every block the node processes goes through it.
func (n *Node) processBlock(b *wire.Block, raw []byte, src chain.Source) (chain.Result, error) {
	start := time.Now()
	res, err := n.chain.ProcessBlockRaw(b, raw, src)
	n.metrics.observeBlock(time.Since(start), err)
	return res, err
}

// onChainEvents keeps the metrics and logs a line per block (during
// initial sync the progress reporter speaks instead).
func (n *Node) onChainEvents(events []chain.Event) {
	disconnected := 0
	syncing := n.initialSync()
	for _, ev := range events {
		switch ev.Kind {
		case chain.BlockConnected:
			n.metrics.blocks.Inc()
			n.metrics.txs.Add(float64(len(ev.Block.Txs)))
			if !syncing {
				n.log.Info("block connected", "height", ev.Height, "hash", ev.ID, "txs", len(ev.Block.Txs),
					"time", time.Unix(int64(ev.Block.Header.Time), 0).UTC().Format(time.RFC3339))
			}
		case chain.BlockDisconnected:
			disconnected++
			n.log.Info("block disconnected", "height", ev.Height, "hash", ev.ID)
		}
	}
	tip := n.chain.Tip()
	if disconnected > 0 {
		n.metrics.reorgs.Inc()
		n.log.Info("chain reorganized", "disconnected", disconnected, "tip", tip.ID, "height", tip.Height)
	}
	n.metrics.height.Set(float64(tip.Height))
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
