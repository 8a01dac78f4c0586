package rpc

import (
	"encoding/json"
	"tally/rpc/rpcjson"
	"testing"
)

// FuzzDecodeRequest feeds arbitrary bodies to the request decoder and the
// parameter placement: they must never panic, must bound batches, and
// every response built for what they return must be valid JSON.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`,
		`{"id":"x","method":"getblockhash","params":[1]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"getblock","params":{"blockhash":"00","verbosity":2}},{"method":"help"}]`,
		`[1,null,{},[]]`,
		`{"jsonrpc":"2.0","method":"getheaders","params":[0,1e400]}`,
		`{"jsonrpc":2,"id":{},"method":["x"],"params":"y"}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		const maxBatch = 50
		reqs, batch, rerr := decodeRequests(body, maxBatch)
		if rerr != nil {
			if reqs != nil {
				t.Fatal("requests beside a body error")
			}
			if !json.Valid(errorBody(rerr)) {
				t.Fatalf("invalid error body for %q", body)
			}
			return
		}
		if len(reqs) == 0 || len(reqs) > maxBatch || (!batch && len(reqs) != 1) {
			t.Fatalf("%d requests (batch %v)", len(reqs), batch)
		}
		for i := range reqs {
			r := &reqs[i]
			for _, out := range [][]byte{
				appendResponse(nil, r, json.RawMessage(`{"a":[1,2]}`), nil),
				appendResponse(nil, r, nil, rpcErr(rpcjson.CodeInternal, "x %q", r.method)),
			} {
				if !json.Valid(out) {
					t.Fatalf("invalid response %q for %q", out, body)
				}
			}
			if r.err != nil {
				continue
			}
			if m := methodTable[r.method]; m != nil {
				args, perr := parseParams(m, r.params)
				if perr == nil && len(args) > len(m.Params) {
					t.Fatalf("%d args for %s", len(args), m.Name)
				}
			}
		}
	})
}
