package p2p

import (
	"math/big"

	"tally/chain"
	"tally/mempool"
	"tally/wire"
)

// Chain is what the network uses of the chain state (*chain.Chain): it
// reads the index and serves blocks, and changes the chain only through
// ProcessBlockRaw, the chain's one writer.
type Chain interface {
	Tip() *chain.Snapshot
	BlockInfo(id wire.Hash) (chain.BlockInfo, bool)
	Block(id wire.Hash) (*wire.Block, error)
	Locator() []wire.Hash
	LocateHeaders(locator []wire.Hash, max int) []wire.Header
	HasBlock(id wire.Hash) bool
	// ProcessBlockRaw validates and stores a block decoded from raw (nil:
	// encode it again) that came from src; chain.MainChain means it is on
	// the best chain.
	ProcessBlockRaw(b *wire.Block, raw []byte, src chain.Source) (chain.Result, error)
	// Subscribe registers fn for connect and disconnect events, in the
	// order the chain made them.
	Subscribe(fn func([]chain.Event))
	// AssumeValidID is the --assumevalid block (zero: none);
	// AssumeHeaderChain gives the chain a header chain, checked in full,
	// that ends at it (ids by height from start, cumulative work).
	AssumeValidID() wire.Hash
	AssumeHeaderChain(start uint64, ids []wire.Hash, work *big.Int) bool
}

// Mempool is what the network uses of the transaction pool
// (*mempool.Pool).
type Mempool interface {
	// Accept validates tx and adds it; peer names the sender for the
	// orphan bounds.
	Accept(tx *wire.Tx, peer string) (*mempool.Entry, error)
	Has(txid wire.Hash) bool
	// ForEachKnownTx offers the pool's transactions, its orphans and
	// those recently removed (compact block reconstruction).
	ForEachKnownTx(fn func(txid wire.Hash, tx *wire.Tx) bool)
}

var (
	_ Chain   = (*chain.Chain)(nil)
	_ Mempool = (*mempool.Pool)(nil)
)
