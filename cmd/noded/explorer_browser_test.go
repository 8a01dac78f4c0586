package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// chromium finds a headless-capable Chromium: $TALLY_CHROMIUM, else
// chromium, chromium-browser or google-chrome on the PATH.
func chromium() string {
	if p := os.Getenv("TALLY_CHROMIUM"); p != "" {
		if p, err := exec.LookPath(p); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestExplorerInBrowser opens a dev node's explorer in headless Chromium
// as a person would: the home page shows the latest block, a newly mined
// block appears without a reload, links lead to a block and a
// transaction, and the search box finds an address. With
// TALLY_EXPLORER_SCREENSHOTS=DIR it also saves the main pages at desktop
// and phone width as PNG files in DIR.
func TestExplorerInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and a browser")
	}
	bin := chromium()
	if bin == "" {
		t.Skip("no Chromium found: install Debian's chromium package (apt-get install chromium; .ci/run does) or set TALLY_CHROMIUM to its path")
	}
	dir := t.TempDir()
	n := startNoded(t, dir, "--dev", "--mine=false", "--explorer", "127.0.0.1:0")
	var base string
	waitFor(t, n, 60*time.Second, "explorer.addr and RPC", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "explorer.addr"))
		_, cerr := blockCount(dir)
		base = "http://" + strings.TrimSpace(string(b))
		return err == nil && cerr == nil
	})
	// Some history to look at: 30 blocks holding payments at various fee
	// rates, mined on demand so that the test decides when a block comes.
	dev := newDevSpender(t, dir)
	dev.mine(1)
	for i := 0; i < 30; i++ {
		for j := 0; j < i%4; j++ {
			dev.send(feeRates[(i+j)%len(feeRates)])
		}
		dev.mine(1)
	}
	addr := dev.addr

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	// chromedp wants no deadline on the context that starts the browser;
	// a watchdog stops it instead if the test hangs.
	watchdog := time.AfterFunc(4*time.Minute, cancelTab)
	defer watchdog.Stop()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\nnode output:\n%s", what, err, n.output())
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	attr := func(sel, name string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
		if err != nil || !v.Exists {
			t.Fatalf("attribute %s of %s: %v", name, sel, err)
		}
		return v.Value
	}

	// The home page shows the tip the node reports.
	do("load the home page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#latest tbody tr`)))
	heightAttr, tipAttr := attr(`#live`, "data-height"), attr(`#live`, "data-tip")
	heightText := get("tip height", chromedp.Text(chromedp.CSS(`#tip-height`)))
	h0, err := strconv.Atoi(heightAttr)
	if err != nil || h0 < 1 || strings.ReplaceAll(heightText, ",", "") != heightAttr {
		t.Fatalf("home page: data-height %q, shown %q", heightAttr, heightText)
	}
	raw, err := rpcCall(dir, "getblockhash", h0)
	if err != nil || strings.Trim(string(raw), `"`) != tipAttr {
		t.Fatalf("home page tip %s at %d, the node says %s (%v)", tipAttr, h0, raw, err)
	}
	if row := get("latest block row", chromedp.Text(chromedp.CSS(`#latest tbody tr td`))); strings.ReplaceAll(row, ",", "") != heightAttr {
		t.Fatalf("latest block row shows %q, tip is %s", row, heightAttr)
	}

	// A block mined now appears without a reload (the marker survives
	// only if the page is not reloaded), brought by the node's /events
	// stream through the explorer.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload = true`)); err != nil {
		t.Fatal(err)
	}
	dev.mine(1)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`window.__noReload === true && document.body.dataset.live === "events" &&
		Number(document.getElementById("live").dataset.height) > %d &&
		document.querySelector("#latest tbody tr td").textContent.replace(/,/g, "") === document.getElementById("live").dataset.height`, h0),
		chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		t.Fatalf("no new block appeared without a reload: %v\nnode output:\n%s", err, n.output())
	}
	// Payments waiting in the pool, for the mempool's chart and list.
	for i := 0; i < 24; i++ {
		dev.send(feeRates[i%len(feeRates)] * uint64(1+i%3))
	}
	shots := os.Getenv("TALLY_EXPLORER_SCREENSHOTS")
	shoot := func(name string) {
		t.Helper()
		if shots == "" {
			return
		}
		for _, v := range []struct {
			suffix string
			emu    chromedp.Action[chromedp.Void]
		}{
			{"desktop", chromedp.EmulateViewport(1280, 900)},
			{"phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2))},
		} {
			do("screenshot "+name, v.emu, chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("footer")), chromedp.Sleep(300*time.Millisecond))
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(shots, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		do("restore the viewport", chromedp.EmulateReset())
	}
	shoot("home")

	// Follow a link to a block, then to its first transaction.
	// The second row is a block with a payment in it (the first is the
	// block just mined, with only its coinbase).
	do("open a block", chromedp.Click(chromedp.CSS(`#latest tbody tr:nth-child(2) td.hash a`)), chromedp.WaitVisible(chromedp.CSS(`#txs tbody tr`)))
	loc, h1 := get("location", chromedp.Location()), get("heading", chromedp.Text(chromedp.CSS(`h1`)))
	if !strings.Contains(loc, "/block/") || !strings.HasPrefix(h1, "Block ") {
		t.Fatalf("block page: at %s, heading %q", loc, h1)
	}
	shoot("block")
	do("open a transaction", chromedp.Click(chromedp.CSS(`#txs tbody tr:last-child td.hash a`)), chromedp.WaitVisible(chromedp.CSS(`ol.ios li`)))
	loc, h1 = get("location", chromedp.Location()), get("heading", chromedp.Text(chromedp.CSS(`h1`)))
	if !strings.Contains(loc, "/tx/") || h1 != "Transaction" {
		t.Fatalf("transaction page: at %s, heading %q", loc, h1)
	}
	shoot("tx")

	// Search for the dev address (every block pays it).
	do("search for an address", chromedp.SetValue(chromedp.CSS(`input[name=q]`), addr), chromedp.Submit(chromedp.CSS(`form.search`)),
		chromedp.WaitVisible(chromedp.CSS(`#balance`)))
	loc, balance := get("location", chromedp.Location()), get("balance", chromedp.Text(chromedp.CSS(`#balance`)))
	if !strings.HasSuffix(loc, "/address/"+addr) || !strings.HasSuffix(balance, "TALLY") || strings.HasPrefix(balance, "0 ") {
		t.Fatalf("address search: at %s, balance %q", loc, balance)
	}
	shoot("address")
	if shots != "" {
		do("open the mempool", chromedp.Navigate(base+"/mempool"), chromedp.WaitVisible(chromedp.CSS(`main`)))
		shoot("mempool")
	}
	n.terminate(t)
}

// feeRates are the fee rates (base units per byte) the test pays.
var feeRates = []uint64{1, 2, 3, 5, 8, 13, 21, 40, 75, 150}

// devSpender pays from the dev key through the node's RPC.
type devSpender struct {
	t      *testing.T
	dir    string
	g      *testgen.Gen
	coins  []testgen.Spend
	addr   string // the dev address, which mined blocks pay
	friend [20]byte
}

// newDevSpender splits a genesis allocation of the dev key into coins.
func newDevSpender(t *testing.T, dir string) *devSpender {
	p, err := consensus.Default(true)
	if err != nil {
		t.Fatal(err)
	}
	d := &devSpender{t: t, dir: dir, g: testgen.New(p), friend: [20]byte{0xf1, 0xe2}}
	d.addr, _ = wire.EncodeAddress(p.AddressPrefix, d.g.PKH)
	split := d.g.Pay(d.g.GenesisSpends()[:1], 150, 100_000)
	d.submit(split)
	d.coins = testgen.Outputs(split)
	return d
}

func (d *devSpender) submit(tx *wire.Tx) {
	d.t.Helper()
	if _, err := rpcCall(d.dir, "sendrawtransaction", hex.EncodeToString(tx.Encode())); err != nil {
		d.t.Fatalf("sendrawtransaction: %v", err)
	}
}

// send pays a friend from one coin at the given fee rate.
func (d *devSpender) send(rate uint64) {
	d.t.Helper()
	c := d.coins[0]
	d.coins = d.coins[1:]
	build := func(fee uint64) *wire.Tx {
		pay := c.Amount / 3
		return d.g.Tx([]testgen.Spend{c}, []wire.TxOut{{Amount: pay, PKH: d.friend}, {Amount: c.Amount - pay - fee, PKH: d.g.PKH}})
	}
	d.submit(build(rate * uint64(len(build(0).Encode()))))
}

// mine mines n blocks paying the dev address.
func (d *devSpender) mine(n int) {
	d.t.Helper()
	if _, err := rpcCall(d.dir, "generatetoaddress", n, d.addr); err != nil {
		d.t.Fatalf("generatetoaddress: %v", err)
	}
}
