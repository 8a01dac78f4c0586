// Package indexes holds Tally's optional chain indexes, kept in the chain
// database: TxIndex (--txindex: txid -> block and position, so
// getrawtransaction finds any confirmed transaction) and AddrIndex
// (--addrindex: history and unspent outputs per public key hash, for
// explorers and wallets).
//
// Both implement chain.Indexer: the chain calls them while it builds
// the batch that connects or disconnects a block, so an index moves with
// the chain in the same atomic write, across reorganizations and crashes.
// Every write is an idempotent put or delete, as crash recovery requires.
// Queries read the database directly (a *leveldb.DB or a snapshot); they
// never take the chain's locks.
//
// An index must be listed in chain.Config.Indexers when the chain is
// opened, and Catchup must run right after Open, before anything else
// processes blocks: it builds what the index is missing (everything, for a
// database that never had the index; the blocks connected while the node
// ran without it; or everything again, if the chain reorganized below the
// index's last block while it was off). Until Catchup has finished, Ready
// reports false and the chain's batches carry the index's entries but not
// its marker.
//
// # Storage layout
//
// Keys use prefixes the chain schema (chain/schema.go) reserves
// for indexes. Integers in keys are big-endian, so that keys sort by them;
// integers in values are little-endian, as everywhere else.
//
//	"X"                                -> version u8 | block id [32]
//	    TxIndex marker: the index is complete up to and including this
//	    best-chain block. Written by Catchup and, once the index is
//	    Ready, in every connect (the block) and disconnect (its parent)
//	    batch. Absent: the index was never built.
//	"x" | txid [32]                    -> block id [32] | position u32
//	    The block holding the transaction and its index in the block.
//	"I"                                -> version u8 | block id [32]
//	    AddrIndex marker, as "X".
//	"a" | pkh [20] | height u64 | txid [32] | dir u8 | n u32
//	                                   -> amount u64
//	    History: transaction txid, in the best-chain block at height,
//	    received amount in its output n (dir 0), or spent a coin of
//	    that amount owned by pkh in its input n (dir 1).
//	"i" | pkh [20] | txid [32] | n u32 -> amount u64 | height u64 | coinbase u8
//	    Unspent output txid:n owned by pkh, created at height (coinbase 1
//	    for a coinbase output); deleted when spent.
//
// Worked example. Block B (id bb..bb) at height 5 holds, at position 1,
// transaction T (txid 77..77) spending coin C0:0 (3,000 base units, pkh
// P1, created at height 2) into two outputs: 1,000 to P2 and 1,900 to P1.
// Connecting B writes (hex, "||" separating fields):
//
//	78 || 77..77                          -> bb..bb || 01000000
//	61 || P1 || 0000000000000005 || 77..77 || 01 || 00000000 -> b80b000000000000
//	61 || P2 || 0000000000000005 || 77..77 || 00 || 00000000 -> e803000000000000
//	61 || P1 || 0000000000000005 || 77..77 || 00 || 00000001 -> 6c07000000000000
//	69 || P2 || 77..77 || 00000000        -> e803000000000000 || 0500000000000000 || 00
//	69 || P1 || 77..77 || 00000001        -> 6c07000000000000 || 0500000000000000 || 00
//
// and deletes 69 || P1 || C0 || 00000000. Disconnecting B deletes every key
// above and puts the coin C0:0 back. Within a block, transactions are
// applied in order (inputs then outputs) and undone in reverse, so an
// output created and spent in the same block leaves no unspent entry.
//
// The genesis block never passes through the Indexer hook (the chain
// writes it directly); Catchup indexes it like any other block, so the
// genesis allocations appear at height 0 as coinbase outputs.
package indexes
