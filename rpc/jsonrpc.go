package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"tally/rpc/rpcjson"
)

// rpcCode returns the code of an *rpcjson.RPCError, or 0.
func rpcCode(err error) int {
	var re *rpcjson.RPCError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

func rpcErr(code int, format string, args ...any) *rpcjson.RPCError {
	return &rpcjson.RPCError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// request is one decoded JSON-RPC call. A malformed entry keeps err, and
// the response echoes its id only if the id itself was valid.
type request struct {
	v2     bool            // "jsonrpc": "2.0"
	id     json.RawMessage // nil when absent
	method string
	params json.RawMessage
	err    *rpcjson.RPCError
}

// notification reports whether the call expects no response: a JSON-RPC
// 2.0 request without an id. A 1.0 request without an id is answered with
// id null, as Bitcoin Core does.
func (r *request) notification() bool { return r.v2 && r.id == nil && r.err == nil }

type rawRequest struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// readBody reads a request body in one allocation when the client
// declared its length (size; the reader enforces the limit), instead of
// io.ReadAll's doubling copies of a block-sized body.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1) // +1: reading to EOF needs room for one more byte
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // a body longer than declared: grow
		}
	}
}

// decodeRequests parses a request body: one call object, or a batch (an
// array of them, at most maxBatch). An error for the whole body (not
// JSON, an empty or oversized batch, not an object or array) comes back
// as err; a malformed entry of a batch comes back in its request. The
// requests point into body, which must not change while they are used.
func decodeRequests(body []byte, maxBatch int) (reqs []request, batch bool, err *rpcjson.RPCError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, rpcErr(rpcjson.CodeParseError, "Parse error: the body is empty")
	}
	if verr := validJSON(body); verr != nil {
		return nil, false, rpcErr(rpcjson.CodeParseError, "Parse error: the body is not valid JSON: %v", verr)
	}
	if body[0] != '[' {
		return []request{parseRequest(body)}, false, nil
	}
	entries := elements(body)
	if len(entries) == 0 {
		return nil, true, rpcErr(rpcjson.CodeInvalidRequest, "Invalid Request: empty batch")
	}
	if len(entries) > maxBatch {
		return nil, true, rpcErr(rpcjson.CodeInvalidRequest, "Invalid Request: batch of %d calls exceeds the limit of %d", len(entries), maxBatch)
	}
	reqs = make([]request, len(entries))
	for i, e := range entries {
		reqs[i] = parseRequest(e)
	}
	return reqs, true, nil
}

// parseRequest checks one call object (valid JSON already). Keys match
// case-insensitively and the last of a repeated key wins, as they did
// when this went through encoding/json.
func parseRequest(raw json.RawMessage) request {
	if len(raw) == 0 || raw[0] != '{' {
		return request{err: rpcErr(rpcjson.CodeInvalidRequest, "Invalid Request: a call must be a JSON object")}
	}
	var jsonrpc, id, method, params json.RawMessage
	members(raw, func(key string, val json.RawMessage) {
		switch {
		case strings.EqualFold(key, "jsonrpc"):
			jsonrpc = val
		case strings.EqualFold(key, "id"):
			id = val
		case strings.EqualFold(key, "method"):
			method = val
		case strings.EqualFold(key, "params"):
			params = val
		}
	})
	var r request
	if id != nil {
		switch id[0] {
		case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			r.id = id
		default:
			return request{err: rpcErr(rpcjson.CodeInvalidRequest, "Invalid Request: id must be a string, a number or null")}
		}
	}
	if jsonrpc != nil && !isNull(jsonrpc) {
		if jsonrpc[0] != '"' {
			r.err = rpcErr(rpcjson.CodeInvalidRequest, "Invalid Request: jsonrpc must be a string")
			return r
		}
		r.v2 = unquote(jsonrpc) == "2.0"
	}
	if method == nil || method[0] != '"' {
		r.err = rpcErr(rpcjson.CodeInvalidRequest, "Invalid Request: method must be a string")
		return r
	}
	r.method = unquote(method)
	if params != nil && !isNull(params) && params[0] != '[' && params[0] != '{' {
		r.err = rpcErr(rpcjson.CodeInvalidRequest, "Invalid Request: params must be an array or an object")
		return r
	}
	r.params = params
	return r
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// appendResponse appends the response to r: JSON-RPC 2.0 form (result or
// error) for a 2.0 request, Bitcoin Core's 1.0 form (result and error,
// one of them null) otherwise.
func appendResponse(b []byte, r *request, result json.RawMessage, rerr *rpcjson.RPCError) []byte {
	id := r.id
	if id == nil || r.err != nil && r.id == nil {
		id = json.RawMessage("null")
	}
	var errJSON []byte
	if rerr != nil {
		errJSON, _ = json.Marshal(rerr)
	}
	if r.v2 {
		b = append(b, `{"jsonrpc":"2.0",`...)
		if rerr != nil {
			b = append(b, `"error":`...)
			b = append(b, errJSON...)
		} else {
			b = append(b, `"result":`...)
			b = append(b, result...)
		}
	} else {
		b = append(b, `{"result":`...)
		if rerr != nil {
			b = append(b, "null"...)
		} else {
			b = append(b, result...)
		}
		b = append(b, `,"error":`...)
		if rerr != nil {
			b = append(b, errJSON...)
		} else {
			b = append(b, "null"...)
		}
	}
	b = append(b, `,"id":`...)
	b = append(b, id...)
	return append(b, '}')
}

// errorBody is the response to a body that failed as a whole.
func errorBody(rerr *rpcjson.RPCError) []byte {
	return append(appendResponse(nil, &request{v2: true}, nil, rerr), '\n')
}
