// Package chain owns Tally's chain state: the block index (every known
// block with its cumulative work and validation status), the best chain,
// reorganization through stored undo data, the orphan pool, and storage:
// block bodies and undo data in append-only block files (chain/blockfile,
// synced before the batch that points to them, pruned with --prune), and
// LevelDB for the index with file positions, the UTXO set and the tip
// (schema.go).
//
// One writer: every change to chain state happens under Chain's process
// mutex, inside ProcessBlock (and Open's recovery). Readers never take that
// mutex: they read the tip from an atomic snapshot and the index and main
// chain under a read lock that the writer holds only briefly. Notifications
// (Event) go to subscribers after the change is committed, outside the
// lock, in commit order (a ticket taken under the lock orders delivery).
//
// What is stored depends on where a block comes from (Source, SPEC section
// 4): an unrequested block from a peer only if its chain has at least the
// tip's work; a header from a peer that breaks a rule only in a bounded
// in-memory set, never on disk; an orphan only if its body matches its
// header, in a pool bounded in count and bytes with a share per peer. The
// best chain comes from a heap of candidate tips ordered by work, so the
// cost of a block does not grow with the index.
//
// A storage failure from any path stops the chain (Failed, Err, Run) and
// never marks a block invalid: the UTXO view returns a storage error with
// the lookup. Every chain write is synced, so what the tip depends on is on
// disk before the tip moves; Run flushes the UTXO cache periodically.
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
