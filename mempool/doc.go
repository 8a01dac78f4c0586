// Package mempool holds the transactions waiting for a block: acceptance
// against the UTXO set plus the pool (signatures checked once, outside the
// pool's lock, into a signature cache shared with block validation),
// fee-rate ordering, chains of unconfirmed transactions, a size bound that
// evicts the lowest fee-rate packages, expiry after two weeks (Run), a
// bounded orphan pool, reorg
// handling driven by chain events, block templates, a fee estimator, and
// OnChange reporting every entry and exit in order (the /events stream).
//
// Policy (docs/mempool.md): first seen wins, there is no replace-by-fee; a
// transaction must pay at least MinRelayFee base units per byte; chains of
// unconfirmed transactions are limited to MaxAncestors.
//
// It reads the chain through the narrow Chain interface and never changes
// chain state; it learns of blocks from the chain's events
// (HandleChainEvents) and builds templates only on the tip it has caught
// up with. Mining and relay are left to their callers.
package mempool
