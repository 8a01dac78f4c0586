package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

var jsonSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`,
	`{"id":"x","method":"getblockhash","params":[1]}`,
	`[{"jsonrpc":"2.0","id":1,"method":"getblock","params":{"blockhash":"00","verbosity":2}},{"method":"help"}]`,
	`[1,null,{},[]]`,
	`{"jsonrpc":"2.0","method":"getheaders","params":[0,1e400]}`,
	`{"jsonrpc":2,"id":{},"method":["x"],"params":"y"}`,
	`{"METHOD":"a","Method":"b","id":null,"ID":7}`,
	`{"method":"sub\u006ditblock","params":["0a\"b\\\\", -0.5e+3, true, false, null, {"a\u0000":[]}]}`,
	`{"method":"x","params":{"hexstring":"00","hexstring":"ff"}}`,
	"{\"method\":\"\xff\xfe\",\"jsonrpc\":\"2.0\"}",
	"  [ {\"method\" : \"a\" } ,\n\t{ } ]  ",
	`{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `["\x"]`, `["\u12"]`, "[\"\x01\"]",
	`[`, `{"a"}`, `{"a":1,}`, `[1,]`, `tru`, `nul`, `"`, `{"a":1}}`, `[] []`,
	`[]`,
	``,
}

// FuzzValidJSON checks the request validator against encoding/json: the
// same verdict on every input.
func FuzzValidJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, want := validJSON(b) == nil, json.Valid(b)
		if got != want {
			t.Fatalf("validJSON %v, json.Valid %v for %q", got, want, b)
		}
	})
}

// referenceRequest is the request decoding this package did through
// encoding/json before the scanner; the scanner must agree with it.
func referenceRequest(raw json.RawMessage) request {
	var rr struct {
		JSONRPC json.RawMessage `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  json.RawMessage `json:"method"`
		Params  json.RawMessage `json:"params"`
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return request{err: rpcErr(0, "not an object")}
	}
	if err := json.Unmarshal(raw, &rr); err != nil {
		return request{err: rpcErr(0, "%v", err)}
	}
	var r request
	if rr.ID != nil {
		switch rr.ID[0] {
		case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			r.id = rr.ID
		default:
			return request{err: rpcErr(0, "id")}
		}
	}
	if rr.JSONRPC != nil && !isNull(rr.JSONRPC) {
		var v string
		if err := json.Unmarshal(rr.JSONRPC, &v); err != nil {
			r.err = rpcErr(0, "jsonrpc")
			return r
		}
		r.v2 = v == "2.0"
	}
	if rr.Method == nil || rr.Method[0] != '"' {
		r.err = rpcErr(0, "method")
		return r
	}
	if err := json.Unmarshal(rr.Method, &r.method); err != nil {
		r.err = rpcErr(0, "method")
		return r
	}
	if rr.Params != nil && !isNull(rr.Params) && rr.Params[0] != '[' && rr.Params[0] != '{' {
		r.err = rpcErr(0, "params")
		return r
	}
	r.params = rr.Params
	return r
}

// FuzzRequestsMatchEncodingJSON decodes bodies with the scanner and with
// encoding/json and requires the same calls, arguments and strings.
func FuzzRequestsMatchEncodingJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reqs, batch, rerr := decodeRequests(body, 1000)
		if rerr != nil {
			if json.Valid(bytes.TrimSpace(body)) && rerr.Code == -32700 {
				t.Fatalf("valid JSON %q refused: %v", body, rerr)
			}
			return
		}
		var entries []json.RawMessage
		if batch {
			if err := json.Unmarshal(body, &entries); err != nil {
				t.Fatal(err)
			}
		} else {
			entries = []json.RawMessage{body}
		}
		if len(entries) != len(reqs) {
			t.Fatalf("%d requests, encoding/json finds %d", len(reqs), len(entries))
		}
		for i, e := range entries {
			got, want := reqs[i], referenceRequest(e)
			if (got.err == nil) != (want.err == nil) || got.v2 != want.v2 || !bytes.Equal(got.id, want.id) ||
				got.method != want.method || !bytes.Equal(got.params, want.params) {
				t.Fatalf("entry %d of %q:\n got  %+v\n want %+v", i, body, got, want)
			}
			if got.err != nil || len(got.params) == 0 {
				continue
			}
			switch got.params[0] {
			case '[':
				var want []json.RawMessage
				if err := json.Unmarshal(got.params, &want); err != nil {
					t.Fatal(err)
				}
				el := elements(got.params)
				if len(el) != len(want) {
					t.Fatalf("%d elements, want %d in %q", len(el), len(want), got.params)
				}
				for j := range el {
					if !bytes.Equal(el[j], want[j]) {
						t.Fatalf("element %d: %q, want %q", j, el[j], want[j])
					}
					if el[j][0] == '"' {
						var s string
						json.Unmarshal(el[j], &s)
						if u := unquote(el[j]); u != s {
							t.Fatalf("unquote %q = %q, want %q", el[j], u, s)
						}
					}
				}
			case '{':
				want := map[string]json.RawMessage{}
				if err := json.Unmarshal(got.params, &want); err != nil {
					t.Fatal(err)
				}
				gotMap := map[string]json.RawMessage{}
				members(got.params, func(k string, v json.RawMessage) { gotMap[k] = v })
				if len(gotMap) != len(want) {
					t.Fatalf("members %q, want %q", gotMap, want)
				}
				for k, v := range want {
					if !bytes.Equal(gotMap[k], v) {
						t.Fatalf("member %q: %q, want %q", k, gotMap[k], v)
					}
				}
			}
		}
	})
}

// TestHexArg: a hex argument is decoded from the body as it is, through
// escapes when a client writes them, and refused when too long, odd,
// not hex, or not a string.
func TestHexArg(t *testing.T) {
	m := methodTable["decoderawtransaction"]
	for _, tc := range []struct {
		param string
		want  string // hex of the bytes, or "error"
	}{
		{`"00ff10"`, "00ff10"},
		{`"00FF10"`, "00ff10"},
		{`"\u0030\u0030ff"`, "00ff"},
		{`""`, ""},
		{`"0"`, "error"},
		{`"zz"`, "error"},
		{`"` + strings.Repeat("00", 65) + `"`, "error"}, // over the 64 bytes allowed below
		{`12`, "error"},
		{`["00"]`, "error"},
	} {
		body := []byte(`{"method":"decoderawtransaction","params":[` + tc.param + `]}`)
		reqs, _, rerr := decodeRequests(body, 1)
		if rerr != nil {
			t.Fatal(rerr)
		}
		args, perr := parseParams(m, reqs[0].params)
		if perr != nil {
			t.Fatal(perr)
		}
		c := &call{m: m, args: args}
		b, err := c.hexArg(0, 64, -22, "TX")
		if tc.want == "error" {
			if err == nil {
				t.Errorf("%s: accepted as %x", tc.param, b)
			}
			continue
		}
		if err != nil || hex.EncodeToString(b) != tc.want {
			t.Errorf("%s: %x %v, want %s", tc.param, b, err, tc.want)
		}
	}
}

// BenchmarkDecodeSubmitBlock measures what the server does with a
// submitblock body of a full block's hex before the chain sees it:
// validate, split, and decode the argument into bytes.
func BenchmarkDecodeSubmitBlock(b *testing.B) {
	const blockBytes = 800_000
	raw := bytes.Repeat([]byte{0xa5, 0x3c}, blockBytes/2)
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"submitblock","params":["` + hex.EncodeToString(raw) + `"]}`)
	m := methodTable["submitblock"]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		reqs, _, rerr := decodeRequests(body, 1)
		if rerr != nil {
			b.Fatal(rerr)
		}
		args, perr := parseParams(m, reqs[0].params)
		if perr != nil {
			b.Fatal(perr)
		}
		c := &call{m: m, args: args}
		out, err := c.hexArg(0, blockBytes, -22, "Block")
		if err != nil || len(out) != blockBytes {
			b.Fatal(err)
		}
	}
}
