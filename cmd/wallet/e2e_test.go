package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"tally/rpc/client"
	"testing"
	"time"

	"tally/consensus"
	"tally/wallet"
	"tally/wire"
)

// moduleRoot returns the repository root (two levels above this package).
func moduleRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// buildBinaries builds noded and wallet into dir. The test is skipped if
// cmd/noded does not build (it is written in parallel with this one).
func buildBinaries(t *testing.T, dir string) (noded, walletBin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root := moduleRoot(t)
	noded, walletBin = filepath.Join(dir, "noded"), filepath.Join(dir, "wallet")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", noded, "./cmd/noded")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cmd/noded does not build yet: %v\n%s", err, out)
	}
	cmd = exec.CommandContext(ctx, "go", "build", "-o", walletBin, "./cmd/wallet")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building wallet: %v\n%s", err, out)
	}
	return noded, walletBin
}

// waitFile waits for path to exist and be non-empty.
func waitFile(ctx context.Context, path string) ([]byte, error) {
	for {
		if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestEndToEnd runs a dev node and the wallet binary against it: send
// from the node's dev wallet to a new wallet, mine, check both balances
// and the history, and verify the payment with the light client.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	bin := t.TempDir()
	nodedBin, walletBin := buildBinaries(t, bin)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	data := filepath.Join(t.TempDir(), "node")
	var nodeLog bytes.Buffer
	nd := exec.Command(nodedBin, "--dev", "--datadir", data, "--rpc-listen", "127.0.0.1:0",
		"--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--addrindex", "--txindex", "--mine=false")
	nd.Stdout, nd.Stderr = &nodeLog, &nodeLog
	if err := nd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- nd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			nd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				nd.Process.Kill()
				<-exited
			}
		}
		if t.Failed() {
			t.Logf("noded log:\n%s", nodeLog.String())
		}
	}()

	waitCtx, waitCancel := context.WithTimeout(ctx, 20*time.Second)
	addrBytes, err := waitFile(waitCtx, filepath.Join(data, "rpc.addr"))
	waitCancel()
	if err != nil {
		t.Fatalf("noded wrote no rpc.addr within 20 s: %v", err)
	}
	rpcURL := "http://" + strings.TrimSpace(strings.SplitN(string(addrBytes), "\n", 2)[0])
	cookie := filepath.Join(data, ".cookie")
	if _, err := waitFile(ctx, cookie); err != nil {
		t.Fatalf("noded wrote no cookie: %v", err)
	}
	devWalletPath := filepath.Join(data, "dev.wallet")
	if _, err := waitFile(ctx, devWalletPath); err != nil {
		t.Fatalf("noded wrote no dev.wallet: %v", err)
	}

	dir := t.TempDir()
	devPass := writeFile(t, filepath.Join(dir, "devpass"), "dev\n")
	bobPass := writeFile(t, filepath.Join(dir, "bobpass"), "bob's passphrase\n")
	bobWallet := filepath.Join(dir, "bob", "wallet")

	// wallet runs the binary and returns its stdout; it fails the test on
	// a non-zero exit unless wantErr.
	walletCmd := func(wantErr bool, args ...string) (string, string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, walletBin, args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
		err := cmd.Run()
		if (err != nil) != wantErr {
			t.Fatalf("wallet %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	dev := []string{"--dev", "--wallet", devWalletPath, "--passphrase-file", devPass, "--rpc", rpcURL, "--rpc-cookie", cookie}
	bob := []string{"--dev", "--wallet", bobWallet, "--passphrase-file", bobPass, "--rpc", rpcURL, "--rpc-cookie", cookie}

	out, _ := walletCmd(false, append(bob, "create", "--json")...)
	created := jsonOut(t, out)
	bobAddr, _ := created["address"].(string)
	words, _ := created["words"].(string)
	if bobAddr == "" || len(strings.Fields(words)) != 12 {
		t.Fatalf("create: %s", out)
	}
	// The words are shown once: never stored in the clear, never printed again.
	if ks, _ := os.ReadFile(bobWallet); bytes.Contains(ks, []byte(strings.Fields(words)[0]+" "+strings.Fields(words)[1])) {
		t.Fatal("the recovery words are in the keystore file in the clear")
	}
	// Public data needs no passphrase (and there is none to give here).
	bobPub := []string{"--dev", "--wallet", bobWallet, "--rpc", rpcURL, "--rpc-cookie", cookie}
	if out, _ := walletCmd(false, append(bobPub, "address", "list", "--json")...); strings.Contains(out, strings.Fields(words)[0]+" ") || !strings.Contains(out, bobAddr) {
		t.Fatalf("address list: %s", out)
	}
	// The dev wallet has no seed.
	if _, errOut := walletCmd(true, append(dev, "address", "new")...); !strings.Contains(errOut, "no seed") {
		t.Fatalf("address new on dev.wallet: %s", errOut)
	}
	// --json errors are one object on stdout; a typo is refused without
	// the checksum that would fix it.
	last := "q"
	if bobAddr[len(bobAddr)-1] == 'q' {
		last = "p"
	}
	typo := bobAddr[:len(bobAddr)-1] + last
	out, _ = walletCmd(true, append(dev, "send", "--to", typo, "--amount", "1", "--json")...)
	if e, _ := jsonOut(t, out)["error"].(map[string]any); e["code"] != "invalid_address" || !strings.Contains(e["message"].(string), "probably a typo") {
		t.Fatalf("send to a typo: %s", out)
	}

	p, err := consensus.Default(true)
	if err != nil {
		t.Fatal(err)
	}
	before := jsonOut(t, first(walletCmd(false, append(dev, "balance", "--json")...)))
	if before["confirmed"] != wallet.FormatAmount(p.Allocations[0].Amount) {
		t.Fatalf("dev balance before: %v", before)
	}

	out, _ = walletCmd(false, append(dev, "send", "--to", bobAddr, "--amount", "1.5", "--fee-rate", "1", "--yes", "--json")...)
	sent := jsonOut(t, out)
	firstID, _ := sent["txid"].(string)
	if len(firstID) != 64 {
		t.Fatalf("send: %v", sent)
	}
	// The payment is unconfirmed incoming for bob, seen without a passphrase.
	pending := jsonOut(t, first(walletCmd(false, append(bobPub, "balance", "--json")...)))
	if pending["unconfirmed_incoming"] != "1.5" || pending["confirmed"] != "0" {
		t.Fatalf("bob's balance while pending: %v", pending)
	}
	// Bump its fee: the replacement pays more, the original is replaced.
	out, _ = walletCmd(false, append(dev, "bumpfee", firstID, "--json")...)
	bumped := jsonOut(t, out)
	txid, _ := bumped["txid"].(string)
	feeBase := uint64(bumped["fee_base"].(float64))
	if len(txid) != 64 || txid == firstID || feeBase <= uint64(sent["fee_base"].(float64)) {
		t.Fatalf("bumpfee: %v", bumped)
	}

	// Mine two blocks to an address of neither wallet.
	rc, err := client.FromCookie(rpcURL, cookie)
	if err != nil {
		t.Fatal(err)
	}
	firstHash, _ := wire.ParseHash(firstID)
	if st, err := rc.GetTxStatus(ctx, firstHash); err != nil || st.Status != "replaced" || st.ReplacedBy == nil || st.ReplacedBy.String() != txid {
		t.Fatalf("gettxstatus of the replaced payment: %+v %v", st, err)
	}
	miner, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{0xee})
	mined, err := rc.GenerateToAddress(ctx, 2, miner)
	if err != nil || len(mined) != 2 {
		t.Fatalf("generatetoaddress: %v %v", mined, err)
	}

	bobBal := jsonOut(t, first(walletCmd(false, append(bob, "balance", "--json")...)))
	if bobBal["confirmed"] != "1.5" || bobBal["unconfirmed"] != "0" {
		t.Fatalf("bob's balance: %v", bobBal)
	}
	devBal := jsonOut(t, first(walletCmd(false, append(dev, "--json", "balance")...)))
	if want := wallet.FormatAmount(p.Allocations[0].Amount - 150_000_000 - feeBase); devBal["confirmed"] != want {
		t.Fatalf("dev balance %v, want confirmed %s", devBal, want)
	}

	hist := jsonOut(t, first(walletCmd(false, append(bob, "history", "--json")...)))
	txs, _ := hist["transactions"].([]any)
	if len(txs) != 1 || txs[0].(map[string]any)["txid"] != txid || txs[0].(map[string]any)["net"] != "+1.5" {
		t.Fatalf("bob's history: %v", hist)
	}

	// The light client: headers from the node, the payment proven against
	// them, 2 confirmations.
	v := jsonOut(t, first(walletCmd(false, append(bob, "verify", txid, "--json")...)))
	if v["verified"] != true || v["confirmations"] != float64(2) || v["block_height"] != float64(1) || v["blockhash"] != mined[0].String() {
		t.Fatalf("verify: %v", v)
	}
	hs := jsonOut(t, first(walletCmd(false, append(bob, "headers", "sync", "--json")...)))
	if hs["height"] != float64(2) || hs["tip"] != mined[1].String() {
		t.Fatalf("headers sync: %v", hs)
	}
	// A transaction that is in no block is not verified.
	if _, errOut := walletCmd(true, append(bob, "verify", strings.Repeat("00", 32))...); !strings.Contains(errOut, "NOT verified") {
		t.Fatalf("verify of an unknown tx: %s", errOut)
	}

	// Bob pays back: his coin is checked by its Merkle proof against his
	// own header chain before he signs.
	out, _ = walletCmd(false, append(bob, "send", "--to", devAddress(t, p), "--amount", "0.5", "--json")...)
	if back := jsonOut(t, out); back["inputs"] != float64(1) || len(back["txid"].(string)) != 64 {
		t.Fatalf("bob's payment: %v", back)
	}
	// Restore from the words: the scan finds bob's addresses.
	restored := []string{"--dev", "--wallet", filepath.Join(dir, "restored"), "--passphrase-file", bobPass, "--rpc", rpcURL, "--rpc-cookie", cookie}
	cmd := exec.CommandContext(ctx, walletBin, append(restored, "import", "--json")...)
	cmd.Stdin = strings.NewReader(words + "\n")
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	impOut, err := cmd.Output()
	if err != nil {
		t.Fatalf("import: %v %s", err, impOut)
	}
	if imp := jsonOut(t, string(impOut)); imp["used_receive"] != float64(1) || imp["used_change"] != float64(1) {
		t.Fatalf("import: %v", imp)
	}
	rb := jsonOut(t, first(walletCmd(false, append(restored, "balance", "--json")...)))
	bb := jsonOut(t, first(walletCmd(false, append(bobPub, "balance", "--json")...)))
	if rb["unconfirmed_incoming"] != bb["unconfirmed_incoming"] || rb["unconfirmed_outgoing"] != "1.5" {
		t.Fatalf("restored balance %v, bob's %v", rb, bb)
	}

	// SIGTERM: the node shuts down cleanly.
	if err := nd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("noded exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("noded did not exit within 15 s of SIGTERM")
	}
}

func first(a, _ string) string { return a }
