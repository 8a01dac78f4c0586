package rpc

import (
	"context"
	"os/exec"
	"path/filepath"
	"tally/rpc/rpcjson"
	"testing"
	"time"

	"tally/wire"
)

// pythonClient is an independent JSON-RPC 1.0 client in Python 3's
// standard library, as scripts written for Bitcoin Core talk to a node:
// HTTP Basic credentials from the cookie file, one call per request.
const pythonClient = `
import base64, json, sys, urllib.request, urllib.error

url, cookie_path = sys.argv[1], sys.argv[2]
with open(cookie_path) as f:
    auth = base64.b64encode(f.read().strip().encode()).decode()

def call(method, *params):
    body = json.dumps({"version": "1.1", "method": method, "params": list(params), "id": "py"}).encode()
    req = urllib.request.Request(url, data=body, headers={"Authorization": "Basic " + auth, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            reply = json.load(resp)
    except urllib.error.HTTPError as e:
        reply = json.load(e)
        reply["http_status"] = e.code
    assert reply["id"] == "py", reply
    return reply

out = {}
out["count"] = call("getblockcount")["result"]
out["best"] = call("getbestblockhash")["result"]
out["hash5"] = call("getblockhash", 5)["result"]
out["header5"] = call("getblockheader", out["hash5"])["result"]
out["header5hex"] = call("getblockheader", out["hash5"], False)["result"]
out["mempool"] = call("getrawmempool")["result"]
out["notfound"] = call("nosuchmethod")
json.dump(out, sys.stdout)
`

func TestPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", pythonClient, "http://"+f.srv.Addr()+"/", filepath.Join(f.dir, rpcjson.CookieFile))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("python client: %v\n%s", err, stderr)
	}
	var got struct {
		Count      uint64                    `json:"count"`
		Best       wire.Hash                 `json:"best"`
		Hash5      wire.Hash                 `json:"hash5"`
		Header5    rpcjson.BlockHeaderResult `json:"header5"`
		Header5Hex string                    `json:"header5hex"`
		Mempool    []wire.Hash               `json:"mempool"`
		NotFound   struct {
			Result     any              `json:"result"`
			Error      rpcjson.RPCError `json:"error"`
			HTTPStatus int              `json:"http_status"`
		} `json:"notfound"`
	}
	mustJSON(t, out, &got)
	b5 := f.blocks[5]
	if got.Count != f.c.Tip().Height || got.Best != f.c.Tip().ID || got.Hash5 != b5.BlockID() {
		t.Fatalf("python saw %s", out)
	}
	if got.Header5.Hash != b5.BlockID() || got.Header5.Height != 5 || got.Header5.MerkleRoot != b5.Header.MerkleRoot ||
		got.Header5.Time != b5.Header.Time || got.Header5.Nonce != b5.Header.Nonce || *got.Header5.PreviousBlockHash != f.blocks[4].BlockID() ||
		got.Header5.Confirmations != 16 || got.Header5Hex != hexOf(b5.Header.Encode()) {
		t.Fatalf("python header: %+v", got.Header5)
	}
	want := f.pool.TxIDs()
	if len(got.Mempool) != len(want) {
		t.Fatalf("python mempool %v, want %v", got.Mempool, want)
	}
	for i := range want {
		if got.Mempool[i] != want[i] {
			t.Fatalf("python mempool %v, want %v", got.Mempool, want)
		}
	}
	if got.NotFound.HTTPStatus != 404 || got.NotFound.Error.Code != rpcjson.CodeMethodNotFound || got.NotFound.Result != nil {
		t.Fatalf("python unknown method: %+v", got.NotFound)
	}
}
