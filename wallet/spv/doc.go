// Package spv is Tally's light client: it keeps the proof-of-work header
// chain with the most cumulative work among the nodes it asks, and
// verifies that a transaction is in a block of that chain by its Merkle
// proof. It trusts no node: a header is accepted only when it links to its
// parent, carries the bits the ASERT rule gives, meets its own target, and
// has a time after the median of the previous 11; a proof is accepted
// only when its header is our header at that height and the audit path
// leads from the txid to that header's Merkle root. What a node says about
// work, validity or confirmations is never used.
//
// Sources (source.go) are anything that serves headers by height and
// Merkle proofs by txid: RPCSource adapts a node's JSON-RPC interface
// (getheaders, getmerkleproof), tests use in-memory fakes.
//
// The header chain (store.go) lives in memory and in an append-only file,
// headers.dat: a 48-byte file header naming the network and its genesis
// block, then the 88-byte headers from height 0 up. Appends are fsynced;
// a torn last record is cut off on load, and every header is verified
// again on load (linkage, proof of work, difficulty, median time), so a
// damaged file costs a re-download, never a wrong chain. Switching to a
// heavier branch truncates the file to the fork point and appends the
// branch; a crash between the two leaves the common prefix, which the next
// sync extends again.
//
// Concurrency: a Client serializes Sync and VerifyTx with one mutex; the
// Store has its own mutex and a single writer (the Client).
//
// Left to others: the node (cmd/noded) and its RPC server (rpc), the
// wallet's keys and transactions (package wallet), the command line
// (cmd/wallet).
package spv
