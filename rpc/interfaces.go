package rpc

import (
	"context"
	"time"

	"tally/chain"
	"tally/chain/indexes"
	"tally/consensus"
	"tally/mempool"
	"tally/wire"
)

// Chain is what the handlers use of the chain state (*chain.Chain).
type Chain interface {
	Params() *consensus.Params
	Tip() *chain.Snapshot
	BlockInfo(id wire.Hash) (chain.BlockInfo, bool)
	IDAt(height uint64) (wire.Hash, bool)
	HeadersFrom(height uint64, count int) []wire.Header
	Block(id wire.Hash) (*wire.Block, error)
	Coin(op wire.OutPoint) (wire.Coin, bool, error)
	// SpentCoins returns the coins a connected block's inputs spent, in
	// input order (its undo data); chain.ErrNotFound if it has none.
	SpentCoins(id wire.Hash) ([]wire.Coin, error)
	ChainTips() []chain.TipInfo
	UTXOStats() (chain.UTXOStats, error)
	// PruneHeight is the lowest height with a body, and whether pruning
	// is on.
	PruneHeight() (uint64, bool)
	// AssumeValid reports the --assumevalid state.
	AssumeValid() chain.AssumeValidInfo
	ProcessBlockRaw(b *wire.Block, raw []byte, src chain.Source) (chain.Result, error)
}

// Mempool is what the handlers use of the transaction pool
// (*mempool.Pool).
type Mempool interface {
	Accept(tx *wire.Tx, peer string) (*mempool.Entry, error)
	Get(txid wire.Hash) (*mempool.Entry, bool)
	Info(txid wire.Hash) (mempool.EntryInfo, bool)
	Entries() []mempool.EntryInfo
	TxIDs() []wire.Hash
	Stats() mempool.Stats
	Spender(op wire.OutPoint) (wire.Hash, bool)
	EstimateFee(target int) (rate uint64, ok bool)
	NewTemplate(pkh [20]byte, now time.Time, extraNonce uint64) *mempool.Template
}

// Miner mines blocks on demand (generatetoaddress; *mining.Miner).
type Miner interface {
	Generate(ctx context.Context, n int, pkh [20]byte) ([]wire.Hash, error)
}

// PeerInfo is one connected peer, as getpeerinfo reports it.
type PeerInfo struct {
	ID       string   `json:"id"`      // libp2p peer id
	Addr     string   `json:"addr"`    // remote multiaddr
	Inbound  bool     `json:"inbound"` // the peer dialed us
	ConnTime int64    `json:"conntime,omitempty"`
	SubVer   string   `json:"subver,omitempty"`   // agent version
	Height   uint64   `json:"synced_height"`      // best height the peer announced
	PingTime float64  `json:"pingtime,omitempty"` // seconds
	Score    float64  `json:"score"`              // gossipsub peer score
	Topics   []string `json:"topics,omitempty"`   // pubsub topics shared
}

// Peers is the p2p layer as the node family of methods sees it.
type Peers interface {
	Info() []PeerInfo
	Count() int
	// AddNode connects to a peer given as a multiaddr with /p2p/<id>.
	AddNode(ctx context.Context, addr string) error
	// ListenAddrs returns the multiaddrs the host listens on.
	ListenAddrs() []string
}

// TxIndex finds confirmed transactions (--txindex). See TxIndexOn.
type TxIndex interface {
	Lookup(txid wire.Hash) (block wire.Hash, pos uint32, found bool, err error)
	Ready() bool
}

// AddrIndex answers the address methods (--addrindex). See AddrIndexOn.
type AddrIndex interface {
	Balance(pkh [20]byte) (indexes.Balance, error)
	UTXOs(pkh [20]byte, after *wire.OutPoint, limit int) ([]indexes.UTXO, bool, error)
	TxIDs(pkh [20]byte, from, to uint64, after *indexes.TxRef, limit int) ([]indexes.TxRef, bool, error)
	Ready() bool
}

// Relay announces what sendrawtransaction and submitblock accepted to
// the network (the p2p layer); optional.
type Relay interface {
	RelayTx(tx *wire.Tx)
	RelayBlock(b *wire.Block)
}
