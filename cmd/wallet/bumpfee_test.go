package main

import (
	"context"
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
