// Package indexes holds Tally's optional chain indexes, kept in the chain
// database: TxIndex (--txindex: txid -> block and position, so
// getrawtransaction finds any confirmed transaction) and AddrIndex
// (--addrindex: history and unspent outputs per public key hash, for
// explorers and wallets).
//
// Both implement chain.Indexer: the chain logs each block it connects or
// disconnects and has them add the block's entries when it writes its
// index log, with the next UTXO flush or before a query reads (see
// chain.IndexDB), in block order, across reorganizations; after a crash,
// recovery connects the lost blocks again. Every write is an idempotent
// put or delete, as that requires. Queries read through chain.IndexDB
// (or a snapshot taken after it); they never take the chain's locks.
//
// An index must be listed in chain.Config.Indexers when the chain is
// opened, and Catchup must run right after Open, before anything else
// processes blocks: it builds what the index is missing (everything, for a
// database that never had the index; the blocks connected while the node
// ran without it; or everything again, if the chain reorganized below the
// index's last block while it was off). Until Catchup has finished, Ready
// reports false and the chain writes the index's entries but not its
// marker.
//
// # Storage layout
//
// Keys use prefixes the chain schema (chain/schema.go) reserves
// for indexes. Integers in keys are big-endian, so that keys sort by them,
// or a varint that sorts as the numbers do; integers in values are
// uvarints. Heights in keys are u32, as Bitcoin Core's. Layout 3 (below)
// names a transaction by its block's height and its position in the
// block wherever it can, rather than by 32-byte ids: with both indexes
// on, a block of payments adds about its own size in entries instead of
// 2.6 times that (docs/decisions.md).
//
//	"X"                                -> version u8 | block id [32]
//	    TxIndex marker: the index is complete up to and including this
//	    best-chain block. Written by Catchup and, once the index is
//	    Ready, with every block's entries (connect: the block;
//	    disconnect: its parent). Absent: the index was never built.
//	"x" | txid [32]                    -> uvarint height | uvarint position
//	    The best-chain block holding the transaction, by height, and the
//	    transaction's index in it.
//	"y" | height u32                   -> block id [32]
//	    The best-chain block at height.
//	"I"                                -> version u8 | block id [32]
//	    AddrIndex marker, as "X".
//	"j" | height u32 | chunk u32       -> txid [32] ...
//	    The txids of the transactions at positions 64*chunk to
//	    64*chunk+63 of the best-chain block at height (fewer in the last
//	    chunk).
//	"a" | pkh [20] | height u32 | position [1-5] | uvarint tag
//	                                   -> uvarint amount [| txid [32] | uvarint n]
//	    History (position: an order-preserving varint, see appendPos):
//	    the transaction at position in the best-chain block at
//	    height paid pkh amount in its output n (tag = n<<2 | coinbase<<1,
//	    coinbase 1 in the block's coinbase), or spent a coin of pkh of
//	    that amount in its input n (tag = n<<2 | 1; the value then names
//	    the coin spent, txid:n). An address's unspent outputs are the
//	    outputs it received that no spend names.
//
// Layout 1 also kept "i" | pkh | txid | n entries (the unspent outputs);
// rebuilding a layout 1 index deletes them.
//
// Worked example. Block B (id bb..bb) at height 5 holds its coinbase (txid
// C, no outputs) and, at position 1, transaction T (txid 77..77) spending
// coin c0..c0:0 (3,000 base units, pkh P1) into two outputs: 1,000 to P2
// and 1,900 to P1. Connecting B writes (hex, "||" separating fields):
//
//	79 || 00000005                        -> bb..bb
//	78 || C                               -> 05 || 00
//	78 || 77..77                          -> 05 || 01
//	6a || 00000005 || 00000000            -> C || 77..77
//	61 || P1 || 00000005 || 01 || 01      -> b817 || c0..c0 || 00
//	61 || P2 || 00000005 || 01 || 00      -> e807
//	61 || P1 || 00000005 || 01 || 04      -> ec0e
//
// Disconnecting B deletes every key above. Balance and the history read
// the "a" entries alone; naming a transaction reads its "j" entry; the
// unspent outputs of an address come from its whole history, in one pass.
//
// The genesis block never passes through the Indexer hook (the chain
// writes it directly); Catchup indexes it like any other block, so the
// genesis allocations appear at height 0 as coinbase outputs.
package indexes
