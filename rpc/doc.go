// Package rpc is Tally's JSON-RPC server and the Go client that the wallet
// and tests use (SPEC section 7; docs/rpc.md lists every method).
//
// The server speaks JSON-RPC 2.0 over HTTP POST and also accepts the 1.0
// style requests and batches that Bitcoin Core clients send. It has two
// listeners: the private one, authenticated by HTTP Basic with the cookie
// file written to the data directory on Start (and optional
// user/password), serving every method; and an optional public one,
// unauthenticated, serving a whitelist of read-only methods behind a
// per-client token bucket and a bound on concurrent requests. Both serve
// GET /healthz without authentication.
//
// Handlers depend on the narrow interfaces in interfaces.go (Chain,
// Mempool, Miner, Peers, TxIndex, AddrIndex, Relay), never on the concrete
// node types, so tests can substitute any of them; adapters.go binds the
// optional indexes of package chain/indexes. Methods are grouped one family
// per file: blockchain.go, lightclient.go, rawtx.go, address.go, mining.go,
// node.go. The method table (methods.go) is the single list of names,
// parameters, help text and which methods the public listener serves.
//
// Everything from the network is hostile: request bodies, batch lengths and
// counts are bounded, every parameter is checked for type and range, and a
// panic in a handler becomes a -32603 error for that call alone.
//
// Error codes follow Bitcoin Core: -32700 parse error, -32600 invalid
// request, -32601 method not found (or not available on the public
// listener), -32602 invalid params (missing, extra or of the wrong JSON
// type), -32603 internal error, -1 misc, -5 not found or invalid address,
// -8 invalid parameter value, -22 decode failure, -25 missing inputs, -26
// rejected by policy or rules, -27 already in the chain, -28 an index is
// still being built.
package rpc
