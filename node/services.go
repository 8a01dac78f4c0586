package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tally/chain"
	"tally/chain/indexes"
	"tally/consensus"
	"tally/explorer"
	"tally/internal/atomicfile"
	"tally/p2p"
	"tally/rpc"
	"tally/wire"
)

// indexSet is the optional indexes the config turns on.
type indexSet struct {
	tx   *indexes.TxIndex
	addr *indexes.AddrIndex
}

// newIndexSet makes the indexes cfg asks for.
func newIndexSet(cfg Config) indexSet {
	var ix indexSet
	txOn, addrOn := cfg.indexesOn()
	if txOn {
		ix.tx = indexes.NewTxIndex()
	}
	if addrOn {
		ix.addr = indexes.NewAddrIndex()
	}
	return ix
}

// indexesOn says which indexes run: those the flags ask for, and both on
// the dev network unless it prunes (pruning deletes what they point into).
func (c *Config) indexesOn() (tx, addr bool) {
	devDefault := c.Dev && c.PruneMB == 0
	return c.TxIndex || devDefault, c.AddrIndex || devDefault
}

func (s indexSet) any() bool { return s.tx != nil || s.addr != nil }

func (s indexSet) indexers() []chain.Indexer {
	var out []chain.Indexer
	if s.tx != nil {
		out = append(out, s.tx)
	}
	if s.addr != nil {
		out = append(out, s.addr)
	}
	return out
}

func (s indexSet) catchup(c *chain.Chain) error {
	var ixs []indexes.Index
	if s.tx != nil {
		ixs = append(ixs, s.tx)
	}
	if s.addr != nil {
		ixs = append(ixs, s.addr)
	}
	return indexes.Catchup(c, ixs...)
}

// newP2P makes the p2p node (listening, not yet running: its Run is a
// service) and writes <datadir>/p2p.addr.
func (n *Node) newP2P() (*p2p.Node, error) {
	listen := n.cfg.P2PListen
	if len(listen) == 0 && n.cfg.Dev {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	bootstrap := n.cfg.Bootstrap
	if len(bootstrap) == 0 {
		bootstrap = n.params.Bootstrap
	}
	if len(bootstrap) == 0 && !n.cfg.Dev {
		n.log.Warn("no bootstrap nodes: genesis.json lists none for this network and no --bootstrap was given; " +
			"the node will have no peers until one dials it or you add one with --bootstrap MULTIADDR or the addnode RPC (see docs/operations.md)")
	}
	if bootstrap == nil {
		bootstrap = []string{}
	}
	pn, err := p2p.New(p2p.Config{
		DataDir:   n.dataDir,
		Params:    n.params,
		Chain:     timedChain{n.chain, n},
		Pool:      n.pool,
		Listen:    listen,
		Bootstrap: bootstrap,
		MDNS:      n.cfg.MDNS,
		Logger:    n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("p2p: %w", err)
	}
	addrs := pn.Addrs()
	if err := atomicfile.Write(filepath.Join(n.dataDir, "p2p.addr"), []byte(strings.Join(addrs, "\n")+"\n"), 0o644); err != nil {
		pn.Close()
		return nil, fmt.Errorf("write p2p.addr: %w", err)
	}
	for _, a := range addrs {
		n.log.Info("p2p listening", "addr", a)
	}
	return pn, nil
}

// peersAdapter presents the p2p node to the RPC server.
type peersAdapter struct{ p *p2p.Node }

func (a peersAdapter) Info() []rpc.PeerInfo {
	var out []rpc.PeerInfo
	for _, pi := range a.p.Peers() {
		out = append(out, rpc.PeerInfo{ID: pi.ID, Addr: pi.Addr, Inbound: pi.Inbound, ConnTime: pi.ConnTime.Unix(),
			SubVer: pi.Agent, Height: pi.Height, PingTime: pi.PingTime.Seconds(), Score: pi.Score, Topics: pi.Topics})
	}
	return out
}
func (a peersAdapter) Count() int                                     { return a.p.Count() }
func (a peersAdapter) AddNode(ctx context.Context, addr string) error { return a.p.AddNode(ctx, addr) }
func (a peersAdapter) ListenAddrs() []string                          { return a.p.ListenAddrs() }

// timedChain is the chain as the network and the RPC server see it: every
// block they process goes through the node's timed path, so the block
// metrics count every block whatever path it came by (each relays what it
// accepts itself).
type timedChain struct {
	*chain.Chain
	n *Node
}

func (c timedChain) ProcessBlockRaw(b *wire.Block, raw []byte, src chain.Source) (chain.Result, error) {
	return c.n.processBlock(b, raw, src)
}

// openRPC starts the JSON-RPC server warming up (-28 until Ready) and
// writes <datadir>/rpc.addr.
func (n *Node) openRPC() (*rpc.Server, error) {
	listen := n.cfg.RPCListen
	if listen == "" {
		listen = net.JoinHostPort("127.0.0.1", fmt.Sprint(n.params.RPCPort))
	}
	srv, err := rpc.New(rpc.Config{
		Params:       n.params,
		Listen:       listen,
		PublicListen: n.cfg.RPCPublic,
		CookieDir:    n.dataDir,
		User:         n.cfg.RPCUser,
		Password:     n.cfg.RPCPassword,
		Dev:          n.cfg.Dev,
		Synced:       n.synced,
		OnRequest:    func(m string) { n.metrics.rpcRequests.WithLabelValues(m).Inc() },
		Logger:       n.log.With("component", "rpc"),
	}, rpc.Deps{Stop: n.stop, Started: n.started})
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(n.dataDir, "rpc.addr"), []byte(srv.Addr()+"\n"), 0o644); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(stopCtx)
		return nil, fmt.Errorf("write rpc.addr: %w", err)
	}
	n.log.Info("rpc listening", "addr", "http://"+srv.Addr(), "cookie", srv.CookiePath())
	if a := srv.PublicAddr(); a != "" {
		n.log.Info("public rpc listening", "addr", "http://"+a)
	}
	return srv, nil
}

// rpcDeps are the parts the RPC server serves once the node is loaded.
func (n *Node) rpcDeps(ix indexSet, recorder *rpc.Recorder) rpc.Deps {
	deps := rpc.Deps{Chain: timedChain{n.chain, n}, Mempool: n.pool, Miner: n.miner, TxStatus: recorder,
		Peers: peersAdapter{n.p2p}, Relay: n.p2p, Events: n.events}
	if ix.tx != nil {
		deps.TxIndex = rpc.TxIndexOn(ix.tx, n.chain.IndexDB())
	}
	if ix.addr != nil {
		deps.AddrIndex = rpc.AddrIndexOn(ix.addr, n.chain.IndexDB())
	}
	return deps
}

// openExplorer opens the block explorer's listener (writing
// <datadir>/explorer.addr) and returns the service serving it; it reads
// only the public RPC methods, in process.
func (n *Node) openExplorer() (func(context.Context) error, error) {
	ex, err := explorer.New(explorer.Config{
		Listen:   n.cfg.Explorer,
		AddrFile: filepath.Join(n.dataDir, "explorer.addr"),
		Logger:   n.log.With("component", "explorer"),
	}, n.rpc)
	if err != nil {
		return nil, err
	}
	if err := ex.Listen(); err != nil {
		return nil, fmt.Errorf("--explorer: %w", err)
	}
	return ex.Run, nil
}

// synced is /healthz's verdict: a recent tip and, except on the dev
// network, at least one peer. The RPC server asks only once Ready.
func (n *Node) synced() (bool, string) {
	if ok, why := n.tipRecent(); !ok {
		return false, why
	}
	if n.cfg.Dev {
		return true, ""
	}
	if n.p2p.Count() == 0 {
		return false, "no peers connected"
	}
	if n.p2p.Syncing() {
		return false, "syncing from peers"
	}
	return true, ""
}

// printDevHelp tells a newcomer what to do next.
func (n *Node) printDevHelp(rpcAddr, cookie string) {
	devAddr, _ := wire.EncodeAddress(n.params.AddressPrefix, consensus.DevPKH())
	fmt.Fprintf(os.Stderr, `
Tally dev node is running (network %s).
  RPC:      http://%s   (cookie: %s)
  Dev key:  %s (wallet %s, passphrase "dev")
Try:
  curl -s --user "$(cat %s)" -d '{"jsonrpc":"2.0","id":1,"method":"getblockchaininfo"}' http://%s
  curl -sN --user "$(cat %s)" http://%s/events
  go run ./cmd/wallet --dev --wallet %s --passphrase-file <(echo dev) \
      --rpc http://%s --rpc-cookie %s send --to <address> --amount 1.5
Stop with Ctrl-C; the chain continues on the next start.

`, n.params.Network, rpcAddr, cookie, devAddr, filepath.Join(n.dataDir, "dev.wallet"),
		cookie, rpcAddr, cookie, rpcAddr, filepath.Join(n.dataDir, "dev.wallet"), rpcAddr, cookie)
}
