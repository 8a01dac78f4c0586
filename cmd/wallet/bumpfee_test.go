package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"tally/internal/testgen"
	"tally/rpc/rpcjson"
	"tally/wallet"
	"tally/wire"
)

// TestBumpfeeAndSweep: bumpfee replaces a pool transaction (the old one's
// gettxstatus names the new one), a replacement paying too little is
// refused with the rule it broke, and send --amount max empties the
// wallet.
func TestBumpfeeAndSweep(t *testing.T) {
	n := newRPCNode(t)
	p := testgen.DevParams()
	ctx := context.Background()
	dir := t.TempDir()
	pf := writeFile(t, filepath.Join(dir, "pf"), "pw")
	alice := []string{"--dev", "--wallet", filepath.Join(dir, "alice"), "--passphrase-file", pf, "--rpc", n.url, "--rpc-cookie", n.cookie}
	addr := jsonOut(t, mustRun(t, "", append(alice, "create", "--json")...))["address"].(string)
	n.fund(t, addr, 3*wallet.BaseUnitsPerTally)
	bob, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{0xb0})

	sent := jsonOut(t, mustRun(t, "", append(alice, "send", "--to", bob, "--amount", "1", "--fee-rate", "2", "--json")...))
	old, _ := wire.ParseHash(sent["txid"].(string))

	// A lower fee rate does not replace: the node says which rule.
	_, _, err := run(t, "", append(alice, "bumpfee", old.String(), "--fee-rate", "1")...)
	if err == nil || !strings.Contains(err.Error(), "insufficient fee") {
		t.Fatalf("bumpfee at the same rate: %v", err)
	}
	bumped := jsonOut(t, mustRun(t, "", append(alice, "bumpfee", old.String(), "--json")...))
	nw, _ := wire.ParseHash(bumped["txid"].(string))
	if bumped["replaces"] != old.String() || uint64(bumped["fee_base"].(float64)) <= uint64(sent["fee_base"].(float64)) {
		t.Fatalf("bumpfee: %v (sent %v)", bumped, sent)
	}
	st, err := n.cli.GetTxStatus(ctx, old)
	if err != nil || st.Status != rpcjson.StatusReplaced || st.ReplacedBy == nil || *st.ReplacedBy != nw {
		t.Fatalf("gettxstatus of the replaced tx: %+v %v", st, err)
	}
	if st, err := n.cli.GetTxStatus(ctx, nw); err != nil || st.Status != rpcjson.StatusMempool {
		t.Fatalf("gettxstatus of the replacement: %+v %v", st, err)
	}
	n.mine(t, 1)

	// Sweep: everything to bob, the fee deducted; nothing is left.
	before := jsonOut(t, mustRun(t, "", append(alice, "balance", "--json")...))
	swept := jsonOut(t, mustRun(t, "", append(alice, "send", "--to", bob, "--amount", "max", "--yes", "--json")...))
	if swept["change"] != nil || uint64(swept["amount_base"].(float64))+uint64(swept["fee_base"].(float64)) != uint64(before["confirmed_base"].(float64)) {
		t.Fatalf("sweep: %v (balance before %v)", swept, before)
	}
	n.mine(t, 1)
	after := jsonOut(t, mustRun(t, "", append(alice, "balance", "--json")...))
	if after["confirmed_base"] != float64(0) || after["unconfirmed_base"] != float64(0) || after["utxos"] != float64(0) {
		t.Fatalf("balance after the sweep: %v", after)
	}
}

// TestSentButNotConfirmed: a payment broadcast whose wait for
// confirmations times out exits 3 with its txid in the --json object, so
// a script never pays twice.
func TestSentButNotConfirmed(t *testing.T) {
	n := newRPCNode(t)
	p := testgen.DevParams()
	dir := t.TempDir()
	devPath := filepath.Join(dir, "dev.wallet")
	devWallet(t, p, devPath)
	pass := writeFile(t, filepath.Join(dir, "pass"), "dev")
	to, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{3})
	var out, errOut bytes.Buffer
	code := runMain(context.Background(), []string{"wallet", "--dev", "--wallet", devPath, "--passphrase-file", pass, "--rpc", n.url, "--rpc-cookie", n.cookie,
		"send", "--to", to, "--amount", "1", "--wait", "1", "--wait-timeout", "1s", "--json"}, strings.NewReader(""), &out, &errOut)
	res := jsonOut(t, out.String())
	e, _ := res["error"].(map[string]any)
	id, err := wire.ParseHash(fmt.Sprint(res["txid"]))
	if code != exitSentUnconfirmed || err != nil || e["code"] != "sent_unconfirmed" {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if st, err := n.cli.GetTxStatus(context.Background(), id); err != nil || st.Status != rpcjson.StatusMempool {
		t.Fatalf("the reported txid is not the pool's: %+v %v", st, err)
	}
}
