// Package rpcjson holds the JSON shapes of Tally's RPC: the result types
// of every method, the JSON-RPC error object and its codes, the statuses
// gettxstatus reports and the cookie file's name. The server (package rpc)
// and the Go client (package rpc/client) share them; it imports nothing of
// the node, so a program that only talks to a node links neither LevelDB
// nor libp2p.
package rpcjson
