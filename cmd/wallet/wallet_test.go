package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"tally/rpc/client"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wallet"
	"tally/wire"
)

func TestCreateImportAddresses(t *testing.T) {
	dir := t.TempDir()
	pf := writeFile(t, filepath.Join(dir, "pass"), "correct horse\n")
	wpath := filepath.Join(dir, "sub", "w")
	g := []string{"--dev", "--wallet", wpath, "--passphrase-file", pf}

	created := jsonOut(t, mustRun(t, "", append(g, "create", "--json")...))
	words, _ := created["words"].(string)
	first, _ := created["address"].(string)
	if len(strings.Fields(words)) != 12 || !strings.HasPrefix(first, "tlyd1") || created["warning"] == nil {
		t.Fatalf("create: %v", created)
	}
	// Text output shows the seed once, grouped, with the warning.
	if _, _, err := run(t, "", append(g, "create")...); !errors.Is(err, wallet.ErrExists) {
		t.Fatalf("create over an existing wallet: %v", err)
	}

	second := jsonOut(t, mustRun(t, "", append(g, "address", "new", "--label", "rent", "--json")...))
	if second["address"] == first || second["label"] != "rent" {
		t.Fatalf("address new: %v", second)
	}
	list := jsonOut(t, mustRun(t, "", append(g, "--json", "address", "list")...))
	addrs := list["addresses"].([]any)
	if len(addrs) != 2 || addrs[0].(map[string]any)["address"] != first {
		t.Fatalf("address list: %v", list)
	}

	// The words restore the same addresses, read from standard input.
	ipath := filepath.Join(dir, "restored")
	imp := jsonOut(t, mustRun(t, words+"\n", "--dev", "--wallet", ipath, "--passphrase-file", pf, "import", "--no-scan", "--addresses", "2", "--json"))
	got := imp["addresses"].([]any)
	if len(got) != 2 || got[0] != first || got[1] != second["address"] {
		t.Fatalf("import: %v", imp)
	}
	// Two words swapped are caught by the checksum (4 bits for 12 words:
	// take the first swap of neighbours that the checksum catches).
	for i := 0; i+1 < 12; i++ {
		w := strings.Fields(words)
		w[i], w[i+1] = w[i+1], w[i]
		if _, err := wallet.MnemonicSeed(strings.Join(w, " "), ""); err == nil {
			continue
		}
		if _, _, err := run(t, strings.Join(w, " "), "--dev", "--wallet", filepath.Join(dir, "typo"), "--passphrase-file", pf, "import", "--no-scan"); !errors.Is(err, wallet.ErrBadMnemonic) {
			t.Fatalf("typo: %v", err)
		}
		break
	}

	// A wrong passphrase is a clear error.
	wrong := writeFile(t, filepath.Join(dir, "wrong"), "battery staple\n")
	if _, _, err := run(t, "", "--dev", "--wallet", wpath, "--passphrase-file", wrong, "address", "new"); !errors.Is(err, wallet.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// The wallet is a dev-network wallet: the public network refuses it.
	if _, _, err := run(t, "", "--wallet", wpath, "--passphrase-file", pf, "address", "list"); err == nil || !strings.Contains(err.Error(), "--dev") {
		t.Fatalf("network mismatch: %v", err)
	}
	// No passphrase source and no terminal: say how to give one.
	t.Setenv(passphraseEnv, "")
	if _, _, err := run(t, "", "--dev", "--wallet", wpath, "address", "new"); err == nil {
		t.Fatal("empty $TALLY_PASSPHRASE accepted")
	}
	// Public data needs no passphrase at all.
	if out, _, err := run(t, "", "--dev", "--wallet", wpath, "address", "list", "--json"); err != nil || !strings.Contains(out, "\"address\"") {
		t.Fatalf("address list without a passphrase: %v %s", err, out)
	}
}

func TestSeedlessWalletCannotDerive(t *testing.T) {
	p, _ := devChain(t, 0, nil)
	dir := t.TempDir()
	wpath := filepath.Join(dir, "dev.wallet")
	devWallet(t, p, wpath)
	t.Setenv(passphraseEnv, "dev")
	_, _, err := run(t, "", "--dev", "--wallet", wpath, "address", "new")
	if err == nil || !strings.Contains(err.Error(), "no seed") {
		t.Fatalf("address new on a seedless wallet: %v", err)
	}
	list := jsonOut(t, mustRun(t, "", "--dev", "--wallet", wpath, "address", "list", "--json"))
	if a := list["addresses"].([]any); len(a) != 1 || a[0].(map[string]any)["address"] != devAddress(t, p) {
		t.Fatalf("dev wallet addresses: %v", list)
	}
}

// send from the dev wallet: coin selection, change back to the dev
// address (no seed for a new one), a signed transaction the node accepts.
func TestSendFromDevWallet(t *testing.T) {
	p, blocks := devChain(t, 3, nil)
	node := newFakeNode(t, p, blocks)
	dir := t.TempDir()
	wpath := filepath.Join(dir, "dev.wallet")
	devWallet(t, p, wpath)
	node.writeCookie(dir) // found beside the wallet
	pf := writeFile(t, filepath.Join(dir, "pf"), "dev")
	dev := devAddress(t, p)
	genesisTx := p.Genesis.Txs[0].TxID()
	node.utxos[dev] = []map[string]any{
		{"address": dev, "txid": genesisTx, "vout": 0, "value": p.Allocations[0].Amount, "height": 0, "coinbase": true, "confirmations": 4},
		// A fresh coinbase: immature, never selected.
		{"address": dev, "txid": blocks[3].Txs[0].TxID(), "vout": 0, "value": 50, "height": 3, "coinbase": true, "confirmations": 1},
	}
	to, err := wire.EncodeAddress(p.AddressPrefix, [20]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	g := []string{"--dev", "--wallet", wpath, "--passphrase-file", pf, "--rpc", node.srv.URL}

	bal := jsonOut(t, mustRun(t, "", append(g, "balance", "--json")...))
	if bal["confirmed"] != wallet.FormatAmount(p.Allocations[0].Amount) || bal["immature"] != "0.0000005" || bal["unit"] != "TALLY" {
		t.Fatalf("balance: %v", bal)
	}

	res := jsonOut(t, mustRun(t, "", append(g, "send", "--to", to, "--amount", "1.5", "--memo", "thanks", "--json")...))
	if len(node.sent) != 1 {
		t.Fatalf("sent %d transactions", len(node.sent))
	}
	tx := node.sent[0]
	if res["txid"] != tx.TxID().String() || res["amount"] != "1.5" || res["fee_rate_source"] != "minimum relay fee" {
		t.Fatalf("send result %v", res)
	}
	fee := uint64(tx.SerializeSize()) // 1 base unit per byte
	if res["fee_base"] != float64(fee) || string(tx.Extra) != "thanks" {
		t.Fatalf("fee %v, want %d", res["fee_base"], fee)
	}
	if len(tx.Inputs) != 1 || tx.Inputs[0].Prev.TxID != genesisTx || len(tx.Outputs) != 2 ||
		tx.Outputs[0].Amount != 150_000_000 || tx.Outputs[1].PKH != wire.Hash160(tx.Inputs[0].PubKey[:]) ||
		tx.Outputs[1].Amount != p.Allocations[0].Amount-150_000_000-fee {
		t.Fatalf("transaction %+v", tx)
	}

	// history: the payment (once mined at height 2) is -1.5 and the fee.
	node.txs[genesisTx], node.txHeight[genesisTx] = p.Genesis.Txs[0], 0
	node.txHeight[tx.TxID()] = 2
	node.addrTxs[dev] = []wire.Hash{genesisTx, tx.TxID()}
	hist := jsonOut(t, mustRun(t, "", append(g, "history", "--json")...))
	entries := hist["transactions"].([]any)
	if len(entries) != 2 {
		t.Fatalf("history: %v", hist)
	}
	got := entries[1].(map[string]any)
	if got["txid"] != tx.TxID().String() || got["net"] != "-"+wallet.FormatAmount(150_000_000+fee) ||
		got["fee"] != wallet.FormatAmount(fee) || got["memo"] != "thanks" || got["height"] != float64(2) || got["confirmations"] != float64(2) {
		t.Fatalf("history entry %v", got)
	}
	if e := entries[0].(map[string]any); e["net"] != "+"+wallet.FormatAmount(p.Allocations[0].Amount) || e["height"] != float64(0) {
		t.Fatalf("genesis entry %v", e)
	}

	// --wait polls gettxstatus until enough confirmations.
	res = jsonOut(t, mustRun(t, "", append(g, "send", "--to", to, "--amount", "2", "--wait", "2", "--json")...))
	if res["confirmations"] != float64(2) || res["height"] != float64(3) || len(node.sent) != 2 {
		t.Fatalf("send --wait: %v", res)
	}
	node.sent = node.sent[:1]

	// A high fee needs --yes (there is no terminal to ask on here).
	_, _, err = run(t, "", append(g, "send", "--to", to, "--amount", "0.001", "--fee-rate", "1000")...)
	if err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("high fee without --yes: %v", err)
	}
	if len(node.sent) != 1 {
		t.Fatal("a high-fee transaction was sent without --yes")
	}
	out := mustRun(t, "", append(g, "send", "--to", to, "--amount", "0.001", "--fee-rate", "1000", "--yes")...)
	if len(node.sent) != 2 || strings.TrimSpace(out) != node.sent[1].TxID().String() {
		t.Fatalf("send --yes printed %q", out)
	}

	// More than the wallet has.
	if _, _, err := run(t, "", append(g, "send", "--to", to, "--amount", "10000001")...); !errors.Is(err, wallet.ErrInsufficientFunds) {
		t.Fatalf("overspend: %v", err)
	}
	// Another network's address.
	pub, _ := wire.EncodeAddress("tly", [20]byte{1})
	if _, _, err := run(t, "", append(g, "send", "--to", pub, "--amount", "1")...); !errors.Is(err, wire.ErrBadAddress) {
		t.Fatalf("wrong-network address: %v", err)
	}
	// Wrong credentials.
	if _, _, err := run(t, "", "--dev", "--wallet", wpath, "--passphrase-file", pf, "--rpc", node.srv.URL, "--rpc-user", "x", "--rpc-password", "y", "balance"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("bad credentials: %v", err)
	}
}

// A seeded wallet sends change to a new address, saved before the
// transaction is submitted.
func TestSendChangeToNewAddress(t *testing.T) {
	n := newRPCNode(t)
	p := testgen.DevParams()
	dir := t.TempDir()
	pf := writeFile(t, filepath.Join(dir, "pf"), "pw")
	wpath := filepath.Join(dir, "w")
	g := []string{"--dev", "--wallet", wpath, "--passphrase-file", pf, "--rpc", n.url, "--rpc-cookie", n.cookie}
	first := jsonOut(t, mustRun(t, "", append(g, "create", "--json")...))["address"].(string)
	n.fund(t, first, 10*wallet.BaseUnitsPerTally)
	to, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{9})
	res := jsonOut(t, mustRun(t, "", append(g, "send", "--to", to, "--amount", "2.5", "--json")...))
	change, _ := res["change_address"].(string)
	if change == "" || change == first || res["change"] != wallet.FormatAmount(10*wallet.BaseUnitsPerTally-250_000_000-uint64(res["fee_base"].(float64))) {
		t.Fatalf("send: %v", res)
	}
	list := mustRun(t, "", append(g, "address", "list")...)
	if !strings.Contains(list, change) {
		t.Fatalf("change address %s not saved: %s", change, list)
	}
}

func TestVerifyCommand(t *testing.T) {
	pay := &wire.Tx{Version: 1, Outputs: []wire.TxOut{{Amount: 7}}, Extra: []byte("a payment")}
	p, blocks := devChain(t, 5, []*wire.Tx{pay, {Version: 1, Outputs: []wire.TxOut{{Amount: 8}}}})
	node := newFakeNode(t, p, blocks)
	dir := t.TempDir()
	g := []string{"--dev", "--wallet", filepath.Join(dir, "w"), "--rpc", node.srv.URL, "--rpc-cookie", node.writeCookie(dir)}

	sync := jsonOut(t, mustRun(t, "", append(g, "headers", "sync", "--json")...))
	if sync["height"] != float64(5) || sync["tip"] != blocks[5].BlockID().String() {
		t.Fatalf("headers sync: %v", sync)
	}
	v := jsonOut(t, mustRun(t, "", append(g, "verify", pay.TxID().String(), "--json")...))
	if v["verified"] != true || v["block_height"] != float64(2) || v["confirmations"] != float64(4) {
		t.Fatalf("verify: %v", v)
	}
	if _, _, err := run(t, "", append(g, "verify", pay.TxID().String(), "--confirmations", "5")...); err == nil {
		t.Fatal("fewer confirmations than asked accepted")
	}

	// A tampered proof is refused, with a non-zero exit.
	node.tamperProof = func(m map[string]any) {
		path := m["merkle"].([]wire.Hash)
		path[0][3] ^= 1
	}
	_, _, err := run(t, "", append(g, "verify", pay.TxID().String())...)
	if err == nil || !strings.Contains(err.Error(), "NOT verified") || !strings.Contains(err.Error(), "bad merkle proof") {
		t.Fatalf("tampered proof: %v", err)
	}
	// A transaction the node does not know.
	node.tamperProof = nil
	if _, _, err := run(t, "", append(g, "verify", strings.Repeat("ab", 32))...); err == nil {
		t.Fatal("unknown transaction verified")
	}
}

// TestRestoreScansBothChains: a wallet restored from its 12 words finds
// the coins paid to its 15th receive address and its 10th change address
// (the gap limit scan), and nothing beyond.
func TestRestoreScansBothChains(t *testing.T) {
	n := newRPCNode(t)
	dir := t.TempDir()
	pf := writeFile(t, filepath.Join(dir, "pf"), "pw")
	orig := filepath.Join(dir, "orig")
	created := jsonOut(t, mustRun(t, "", "--dev", "--wallet", orig, "--passphrase-file", pf, "create", "--json"))
	words := created["words"].(string)
	w, err := wallet.Open(orig, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	recv14, _ := w.DeriveAddress(false, 14)
	chg9, _ := w.DeriveAddress(true, 9)
	n.fund(t, recv14.Address, 1*wallet.BaseUnitsPerTally)
	n.fund(t, chg9.Address, 2*wallet.BaseUnitsPerTally)

	restored := []string{"--dev", "--wallet", filepath.Join(dir, "restored"), "--passphrase-file", pf, "--rpc", n.url, "--rpc-cookie", n.cookie}
	imp := jsonOut(t, mustRun(t, words, append(restored, "import", "--json")...))
	if imp["used_receive"] != float64(1) || imp["used_change"] != float64(1) || len(imp["addresses"].([]any)) != 15+10 {
		t.Fatalf("import: used %v/%v, %d addresses", imp["used_receive"], imp["used_change"], len(imp["addresses"].([]any)))
	}
	bal := jsonOut(t, mustRun(t, "", append(restored, "balance", "--json")...))
	if bal["confirmed"] != "3" {
		t.Fatalf("restored balance: %v", bal)
	}
	// Without a node to scan, import refuses rather than miss funds.
	if _, _, err := run(t, words, "--dev", "--wallet", filepath.Join(dir, "r2"), "--passphrase-file", pf, "--rpc", "127.0.0.1:1", "import"); err == nil {
		t.Fatal("import without a node succeeded")
	}
}

// TestBalanceWarnsWhenNodeBehind: a node in its initial sync, or with an
// old tip, makes balance say so (the balance may be incomplete).
func TestBalanceWarnsWhenNodeBehind(t *testing.T) {
	p, blocks := devChain(t, 1, nil)
	node := newFakeNode(t, p, blocks)
	dir := t.TempDir()
	wpath := filepath.Join(dir, "dev.wallet")
	devWallet(t, p, wpath)
	g := []string{"--dev", "--wallet", wpath, "--rpc", node.srv.URL, "--rpc-cookie", node.writeCookie(dir)}
	now := uint64(time.Now().Unix())
	for _, c := range []struct {
		info map[string]any
		want string
	}{
		{map[string]any{"initialblockdownload": true, "blocks": 1, "headers": 5000, "time": now}, "initial sync"},
		{map[string]any{"initialblockdownload": false, "blocks": 1, "headers": 1, "time": now - 5*3600}, "may be behind"},
		{map[string]any{"initialblockdownload": false, "blocks": 1, "headers": 1, "time": now}, ""},
	} {
		node.mu.Lock()
		node.chainInfo = c.info
		node.mu.Unlock()
		bal := jsonOut(t, mustRun(t, "", append(g, "balance", "--json")...))
		w, _ := bal["warning"].(string)
		if (c.want == "") != (w == "") || !strings.Contains(w, c.want) {
			t.Fatalf("info %v: warning %q, want %q", c.info, w, c.want)
		}
		text := mustRun(t, "", append(g, "balance")...)
		if c.want != "" && !strings.Contains(text, "WARNING") {
			t.Fatalf("text balance without the warning: %s", text)
		}
	}
}

// TestJSONErrors: with --json every failure is one JSON object on stdout
// with its exit code, even a usage error found before the command runs.
func TestJSONErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code string
		exit int
	}{
		{[]string{"send", "--bogus", "--json"}, "usage", exitUsage},
		{[]string{"--json", "nosuchcommand"}, "usage", exitUsage},
		{[]string{"balance", "--json"}, "error", exitError}, // no wallet file
		{[]string{"send", "--to", "tlyd1qqqq", "--amount", "1", "--json"}, "invalid_address", exitError},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"wallet", "--dev", "--wallet", filepath.Join(dir, "none")}, c.args...)
		exit := runMain(context.Background(), args, strings.NewReader(""), &out, &errOut)
		e, _ := jsonOut(t, out.String())["error"].(map[string]any)
		if exit != c.exit || e["code"] != c.code || e["message"] == "" || errOut.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %s, stderr %q", c.args, exit, out.String(), errOut.String())
		}
	}
}
