package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wire"
)

// TestManyCoinsOneAddress gives the dev address more unspent outputs than
// one page of getaddressutxos (12,000 in CI; TALLY_WALLET_100K=1 for
// 100,000) and checks that balance sees them all and send pays from
// them, printing how long each took (docs/performance.md).
func TestManyCoinsOneAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a chain with many outputs")
	}
	coins := 12_000
	if os.Getenv("TALLY_WALLET_100K") != "" {
		coins = 100_000
	}
	const perTx = 3400 // 28-byte outputs: about 95 kB, under max_tx_bytes
	n := newRPCNode(t)
	p := testgen.DevParams()
	g := testgen.New(p)
	ctx := context.Background()
	submit := func(tx *wire.Tx) {
		t.Helper()
		var id wire.Hash
		if err := n.cli.Call(ctx, "sendrawtransaction", []any{hex.EncodeToString(tx.Encode())}, &id); err != nil {
			t.Fatal(err)
		}
	}
	nTx := (coins + perTx - 1) / perTx
	fan := g.Pay(g.GenesisSpends()[:1], nTx, 10_000)
	submit(fan)
	n.mine(t, 1)
	start := time.Now()
	for i, s := range testgen.Outputs(fan) {
		k := min(perTx, coins-i*perTx)
		submit(g.Pay([]testgen.Spend{s}, k, 200_000))
	}
	for {
		var info map[string]any
		if err := n.cli.Call(ctx, "getmempoolinfo", nil, &info); err != nil {
			t.Fatal(err)
		}
		if info["size"].(float64) == 0 {
			break
		}
		n.mine(t, 1)
	}
	t.Logf("chain with %d outputs on one address built in %s", coins, time.Since(start).Round(time.Millisecond))

	dir := t.TempDir()
	devPath := filepath.Join(dir, "dev.wallet")
	devWallet(t, p, devPath)
	pass := writeFile(t, filepath.Join(dir, "pass"), "dev")
	dev := []string{"--dev", "--wallet", devPath, "--passphrase-file", pass, "--rpc", n.url, "--rpc-cookie", n.cookie}

	start = time.Now()
	bal := jsonOut(t, mustRun(t, "", append(dev, "balance", "--json")...))
	balTime := time.Since(start)
	// The other genesis allocations are the dev key's too.
	if got := int(bal["utxos"].(float64)); got != coins+len(g.GenesisSpends())-1 {
		t.Fatalf("balance sees %d coins, want %d", got, coins+len(g.GenesisSpends())-1)
	}
	to, _ := wire.EncodeAddress(p.AddressPrefix, [20]byte{5})
	start = time.Now()
	res := jsonOut(t, mustRun(t, "", append(dev, "send", "--to", to, "--amount", "0.5", "--yes", "--json")...))
	sendTime := time.Since(start)
	if len(res["txid"].(string)) != 64 {
		t.Fatalf("send: %v", res)
	}
	fmt.Printf("wallet with %d coins on one address: balance %s, send %s (%s inputs, fee %s base)\n",
		coins, balTime.Round(time.Millisecond), sendTime.Round(time.Millisecond),
		strconv.Itoa(int(res["inputs"].(float64))), strconv.FormatUint(uint64(res["fee_base"].(float64)), 10))
}
