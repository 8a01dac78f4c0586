package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"tally/rpc/client"
	"tally/rpc/rpcjson"
	"testing"
	"time"

	"tally/chain"
	"tally/chain/indexes"
	"tally/internal/testgen"
	"tally/mempool"
	"tally/mining"
	"tally/rpc"
	"tally/wallet"
	"tally/wire"
)

// rpcNode is the node's JSON-RPC server in-process over an in-memory dev
// chain with both indexes, a pool and a miner: the real handlers, without
// the p2p layer or the noded binary (TestEndToEnd runs those).
type rpcNode struct {
	url, cookie string
	cli         *client.Client
	dir         string // holds the dev wallet fund uses
}

func newRPCNode(t *testing.T) *rpcNode {
	t.Helper()
	p := testgen.DevParams()
	txix, addrix := indexes.NewTxIndex(), indexes.NewAddrIndex()
	c, err := chain.OpenMemory(chain.Config{Params: p, NoSync: true, Workers: 1,
		Indexers: []chain.Indexer{txix, addrix}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := indexes.Catchup(c, txix, addrix); err != nil {
		t.Fatal(err)
	}
	rec := rpc.NewRecorder(0, 0, nil)
	pool := mempool.New(mempool.Config{Chain: c, OnRemove: rec.PoolRemoved})
	c.Subscribe(pool.HandleChainEvents)
	c.Subscribe(rec.HandleChainEvents)
	miner := mining.New(mining.Config{Chain: c, Pool: pool, Workers: 1,
		Submit: func(b *wire.Block) error { _, err := c.ProcessBlock(b); return err }})
	dir := t.TempDir()
	srv, err := rpc.New(rpc.Config{Params: p, Listen: "127.0.0.1:0", CookieDir: dir, Dev: true},
		rpc.Deps{Chain: c, Mempool: pool, Miner: miner, TxIndex: rpc.TxIndexOn(txix, c.IndexDB()),
			AddrIndex: rpc.AddrIndexOn(addrix, c.IndexDB()), TxStatus: rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	n := &rpcNode{url: srv.Addr(), cookie: filepath.Join(dir, rpcjson.CookieFile), dir: dir}
	if n.cli, err = client.FromCookie(n.url, n.cookie); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAgainstRPCServer pays from a dev wallet to a new wallet through the
// real RPC handlers: balances before and after mining (with the pending
// change), history, and the light client's verify.
func TestAgainstRPCServer(t *testing.T) {
	n := newRPCNode(t)
	p := testgen.DevParams()
	ctx := context.Background()
	dir := t.TempDir()
	devPath := filepath.Join(dir, "dev", "dev.wallet")
	devWallet(t, p, mkdir(t, devPath))
	devPass := writeFile(t, filepath.Join(dir, "devpass"), "dev")
	bobPass := writeFile(t, filepath.Join(dir, "bobpass"), "bob")
	dev := []string{"--dev", "--wallet", devPath, "--passphrase-file", devPass, "--rpc", n.url, "--rpc-cookie", n.cookie}
	bob := []string{"--dev", "--wallet", filepath.Join(dir, "bob", "wallet"), "--passphrase-file", bobPass, "--rpc", n.url, "--rpc-cookie", n.cookie}
	alloc := p.Allocations[0].Amount

	bal := jsonOut(t, mustRun(t, "", append(dev, "balance", "--json")...))
	if bal["confirmed"] != wallet.FormatAmount(alloc) {
		t.Fatalf("dev balance: %v", bal)
	}
	bobAddr := jsonOut(t, mustRun(t, "", append(bob, "create", "--json")...))["address"].(string)

	sent := jsonOut(t, mustRun(t, "", append(dev, "send", "--to", bobAddr, "--amount", "1.5", "--memo", "lunch", "--json")...))
	txid := sent["txid"].(string)
	fee := uint64(sent["fee_base"].(float64))
	change := alloc - 150_000_000 - fee

	// Pending: the allocation is being spent, the change is unconfirmed.
	bal = jsonOut(t, mustRun(t, "", append(dev, "balance", "--json")...))
	if bal["confirmed"] != "0" || bal["spending"] != wallet.FormatAmount(alloc) || bal["unconfirmed"] != wallet.FormatAmount(change) {
		t.Fatalf("dev balance while pending: %v", bal)
	}
	hist := jsonOut(t, mustRun(t, "", append(dev, "history", "--json")...))["transactions"].([]any)
	if last := hist[len(hist)-1].(map[string]any); last["txid"] != txid || last["height"] != float64(-1) || last["net"] != "-"+wallet.FormatAmount(150_000_000+fee) {
		t.Fatalf("dev history while pending: %v", hist)
	}
	// Verifying an unconfirmed transaction fails.
	if _, _, err := run(t, "", append(bob, "verify", txid)...); err == nil {
		t.Fatal("unconfirmed transaction verified")
	}

	miner, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{0xee})
	mined, err := n.cli.GenerateToAddress(ctx, 2, miner)
	if err != nil {
		t.Fatal(err)
	}
	bal = jsonOut(t, mustRun(t, "", append(bob, "balance", "--json")...))
	if bal["confirmed"] != "1.5" {
		t.Fatalf("bob's balance: %v", bal)
	}
	bal = jsonOut(t, mustRun(t, "", append(dev, "balance", "--json")...))
	if bal["confirmed"] != wallet.FormatAmount(change) || bal["unconfirmed"] != "0" || bal["spending"] != "0" {
		t.Fatalf("dev balance after mining: %v", bal)
	}
	hist = jsonOut(t, mustRun(t, "", append(bob, "history", "--json")...))["transactions"].([]any)
	if len(hist) != 1 || hist[0].(map[string]any)["net"] != "+1.5" || hist[0].(map[string]any)["memo"] != "lunch" || hist[0].(map[string]any)["height"] != float64(1) {
		t.Fatalf("bob's history: %v", hist)
	}
	v := jsonOut(t, mustRun(t, "", append(bob, "verify", txid, "--json")...))
	if v["confirmations"] != float64(2) || v["blockhash"] != mined[0].String() {
		t.Fatalf("verify: %v", v)
	}
	// Spending the change, --wait for a confirmation mined meanwhile.
	done := make(chan error, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		_, err := n.cli.GenerateToAddress(ctx, 1, miner)
		done <- err
	}()
	res := jsonOut(t, mustRun(t, "", append(dev, "send", "--to", bobAddr, "--amount", "250000000base", "--wait", "1", "--json")...))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res["confirmations"] != float64(1) || res["height"] != float64(3) {
		t.Fatalf("send --wait: %v", res)
	}
	if bal := jsonOut(t, mustRun(t, "", append(bob, "balance", "--json")...)); bal["confirmed"] != "4" {
		t.Fatalf("bob's balance: %v", bal)
	}
	// History pages: newest last, --skip pages back from the newest.
	all := jsonOut(t, mustRun(t, "", append(bob, "history", "--json")...))
	txs := all["transactions"].([]any)
	if all["total"] != float64(2) || len(txs) != 2 {
		t.Fatalf("bob's history: %v", all)
	}
	for skip, want := range []any{txs[1], txs[0]} {
		pg := jsonOut(t, mustRun(t, "", append(bob, "history", "--limit", "1", "--skip", fmt.Sprint(skip), "--json")...))
		got := pg["transactions"].([]any)
		if pg["total"] != float64(2) || len(got) != 1 || got[0].(map[string]any)["txid"] != want.(map[string]any)["txid"] {
			t.Fatalf("history --limit 1 --skip %d: %v", skip, pg)
		}
	}
}

// fund pays amount base units from the dev allocation to addr with the
// wallet command (from a dev wallet it keeps) and mines the payment.
func (n *rpcNode) fund(t *testing.T, addr string, amount uint64) wire.Hash {
	t.Helper()
	p := testgen.DevParams()
	devPath := filepath.Join(n.dir, "dev.wallet")
	if _, err := os.Stat(devPath); err != nil {
		devWallet(t, p, devPath)
	}
	pass := writeFile(t, filepath.Join(n.dir, "devpass"), "dev")
	res := jsonOut(t, mustRun(t, "", "--dev", "--wallet", devPath, "--passphrase-file", pass, "--rpc", n.url, "--rpc-cookie", n.cookie,
		"send", "--to", addr, "--amount", fmt.Sprintf("%dbase", amount), "--yes", "--json"))
	txid, err := wire.ParseHash(res["txid"].(string))
	if err != nil {
		t.Fatal(err)
	}
	n.mine(t, 1)
	return txid
}

// mine mines n blocks to an address of no wallet.
func (n *rpcNode) mine(t *testing.T, count int) []wire.Hash {
	t.Helper()
	miner, _ := wire.EncodeAddress(testgen.DevParams().AddressPrefix, [20]byte{0xee})
	ids, err := n.cli.GenerateToAddress(context.Background(), count, miner)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
