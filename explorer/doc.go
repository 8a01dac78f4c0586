// Package explorer is the node's read-only block explorer for people
// (noded --explorer HOST:PORT, SPEC section 9): HTML pages rendered on
// the server for the tip and recent blocks, a block, a transaction and
// its Merkle proof, an address, the mempool, and search.
//
// It is built only on the public JSON-RPC interface: every fact on a page
// comes from a call through Backend, which *rpc.Server satisfies with
// CallPublic (the public listener's methods, checks and size bound, run
// in process). The explorer never reads the chain, the pool or the
// indexes directly, so it shows nothing a public RPC client could not
// see, and tests run it against the real server or a fake. data.go holds
// every call the pages make, one function per need, so that a richer
// RPC method replaces one function.
//
// Templates, CSS and a little JavaScript are embedded with go:embed;
// charts are inline SVG drawn on the server; a page makes no request to
// another host and works without JavaScript. The script only keeps the
// home page live: it follows the explorer's /events stream when the
// backend offers one, and otherwise polls /api/tip, and in both cases
// fetches the page's live fragment again when the tip moves.
//
// Every request is hostile until checked: the listener bounds open
// connections, limits each client's request rate (the public RPC
// listener's token bucket) and the requests running at once; every path
// segment and query parameter is validated before any call; html/template
// escapes all output; and each page makes a bounded number of bounded
// calls (a page of 25 transactions, at most 60 recent headers, a mempool
// scan only while the pool is small).
package explorer
