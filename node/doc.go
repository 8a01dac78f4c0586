// Package node assembles a Tally full node from its parts: the chain state,
// mempool, miner, JSON-RPC server, peer-to-peer network, metrics and logs.
// cmd/noded turns flags and the config file into a Config and calls Run;
// Run owns the datadir (and its lock) until its context ends, then shuts
// everything down in order and flushes the UTXO cache.
package node
