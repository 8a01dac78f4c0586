package rpcjson

import "strconv"

// RPCError is a JSON-RPC error object. The client returns it for every
// error the server answers with.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error returns "rpc error CODE: MESSAGE".
func (e *RPCError) Error() string { return "rpc error " + strconv.Itoa(e.Code) + ": " + e.Message }

// Error codes: JSON-RPC 2.0's own, then Bitcoin Core's numbers.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603

	CodeMisc             = -1  // anything else
	CodeNotFound         = -5  // block, transaction or address not found, or an invalid address
	CodeInvalidParameter = -8  // a parameter has the right type but a bad value
	CodeInitialDownload  = -10 // still syncing (getblocktemplate)
	CodeDecode           = -22 // a transaction, block or proof does not decode
	CodeVerify           = -25 // missing or spent inputs
	CodeVerifyRejected   = -26 // refused by the pool's policy or the rules
	CodeAlreadyInChain   = -27 // the transaction is already confirmed
	CodeWarmingUp        = -28 // an index is still being built
)

// Transaction statuses reported by gettxstatus.
const (
	StatusMempool    = "mempool"    // waiting in the pool
	StatusConfirmed  = "confirmed"  // in a best-chain block
	StatusRefused    = "refused"    // sendrawtransaction (or a peer) offered it; the pool refused it
	StatusEvicted    = "evicted"    // left a full pool (lowest fee rate)
	StatusReplaced   = "replaced"   // replaced by a conflicting transaction paying more
	StatusConflicted = "conflicted" // a block spent one of its inputs, or it became invalid after a reorganization
	StatusUnknown    = "unknown"    // never seen, or forgotten
)

// CookieFile is the name of the cookie file in the cookie directory.
const CookieFile = ".cookie"

// CookieUser is the user name of the cookie credentials.
const CookieUser = "__cookie__"
