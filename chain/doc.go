// Package chain owns Tally's chain state: the block index (every known
// block with its cumulative work and validation status), the best chain,
// reorganization through stored undo data, the orphan pool, and the LevelDB
// storage of blocks, index, UTXO set, undo data and tip (schema.go).
//
// One writer: every change to chain state happens under Chain's process
// mutex, inside ProcessBlock (and Open's recovery). Readers never take that
// mutex: they read the tip from an atomic snapshot and the index and main
// chain under a read lock that the writer holds only briefly. Notifications
// (Event) go to subscribers after the change is committed, outside the
// lock.
//
// Connecting or disconnecting a block writes one LevelDB batch. UTXO
// changes collect in a bounded cache (Config.CacheBytes) and reach disk in
// one atomic batch together with the tip they belong to; after a crash,
// Open reconnects the stored blocks from that tip, so the UTXO set always
// equals one computed from scratch.
//
// Consensus rules come from package consensus; this package decides what to
// do with their verdicts: a violation the header commits to marks the block
// and its descendants invalid, anything else (a body that does not match
// its header, a block from the future, a storage error) does not.
package chain
