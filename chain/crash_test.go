package chain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/internal/testgen"
	"tally/wire"
)

// The crash test runs a child process (this test binary, TestCrashChild)
// that extends and reorganizes a chain on disk without end, kills it with
// SIGKILL at a random instant, and checks what it left behind:
//
//	parent                               child (TestCrashChild)
//	start child --------------------->   Open(dir), print "ready"
//	sleep 20-300 ms, and until the       loop: build a block or a heavier
//	child has processed a block          branch (reorg of depth 1-4),
//	                                     ProcessBlock, print "work <hex>"
//	SIGKILL ------------------------->   (dies anywhere, even mid-write)
//	Open(dir): recovers to a tip
//	tip is the best stored block, none is marked invalid,
//	tip work >= every tip work the child reported,
//	UTXOStats().Hash == hash recomputed from genesis
//	Close, repeat
//
// TALLY_CRASH_KILLS raises the number of kills; TALLY_CRASH_SEED repeats a
// run's random choices (where the kills land still depends on timing).

const (
	crashChildEnv   = "TALLY_CRASH_CHILD" // "<seed>:<datadir>"
	crashKillsEnv   = "TALLY_CRASH_KILLS"
	crashSeedEnv    = "TALLY_CRASH_SEED"
	crashKills      = 32
	crashWindow     = 24 // blocks the child looks back for outputs to spend
	crashMaxTxs     = 20 // transactions per block, at most
	crashReadyLine  = "ready"
	crashWorkPrefix = "work "
)

// crashNow is the clock of the crash test's chains: far enough in the future
// that blocks 600 s apart from the genesis time are never too new.
func crashNow() time.Time { return time.Unix(4_000_000_000, 0) }

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test kills a child process many times; skipped with -short")
	}
	kills := crashKills
	if s := os.Getenv(crashKillsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive count", crashKillsEnv, s)
		}
		kills = n
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv(crashSeedEnv); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = n
	}
	t.Logf("%d kills, seed %d (repeat with %s=%d)", kills, seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	p := testgen.DevParams()
	dir := t.TempDir()
	start := time.Now()
	maxWork := new(big.Int) // no tip may ever have less work than this
	var reorgs, blocks int
	for i := 0; i < kills; i++ {
		life := 20*time.Millisecond + time.Duration(rng.Int64N(int64(280*time.Millisecond)))
		run := runCrashChild(t, dir, seed+int64(i), life)
		if run.work != nil && run.work.Cmp(maxWork) > 0 {
			maxWork.Set(run.work)
		}
		blocks += run.blocks
		reorgs += run.reorgs

		c, err := Open(dir, Config{Params: p, CacheBytes: 1 << 20, Now: crashNow})
		if err != nil {
			t.Fatalf("kill %d: open after kill: %v\nchild stderr:\n%s", i+1, err, run.stderr)
		}
		tip := c.Tip()
		if tip.Work.Cmp(maxWork) < 0 {
			c.Close()
			t.Fatalf("kill %d: tip %s at height %d has work %x, below %x seen before: stored blocks were lost", i+1, tip.ID, tip.Height, tip.Work, maxWork)
		}
		maxWork.Set(tip.Work)
		if err := checkCrashState(c); err != nil {
			c.Close()
			t.Fatalf("kill %d (tip height %d): %v", i+1, tip.Height, err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("kill %d: close: %v", i+1, err)
		}
	}
	c, err := Open(dir, Config{Params: p, Now: crashNow})
	if err != nil {
		t.Fatal(err)
	}
	height := c.Tip().Height
	c.Close()
	if height == 0 {
		t.Errorf("the children built nothing: tip height 0 after %d kills", kills)
	}
	t.Logf("%d kills in %v: %d blocks processed, %d reorgs, final height %d", kills, time.Since(start).Round(time.Millisecond), blocks, reorgs, height)
}

// checkCrashState checks a freshly opened chain: its tip is the best valid
// stored block, no block is marked invalid (the child builds only valid
// ones), and the UTXO set equals one computed from scratch.
func checkCrashState(c *Chain) error {
	c.process.Lock()
	best, tip := c.bestCandidate(), c.tipNode()
	var invalid []wire.Hash
	for id, n := range c.index {
		if n.status&statusInvalid != 0 {
			invalid = append(invalid, id)
		}
	}
	c.process.Unlock()
	if len(invalid) > 0 {
		return fmt.Errorf("%d blocks marked invalid after recovery, e.g. %s", len(invalid), invalid[0])
	}
	if best != tip {
		return fmt.Errorf("tip %s (height %d) is not the best stored block %s (height %d)", tip.id, tip.height, best.id, best.height)
	}
	want, err := recomputeUTXO(c)
	if err != nil {
		return err
	}
	st, err := c.UTXOStats()
	if err != nil {
		return fmt.Errorf("utxo stats: %w", err)
	}
	if st.BestBlock != tip.id || st.Height != tip.height {
		return fmt.Errorf("utxo stats at %s height %d, tip %s height %d", st.BestBlock, st.Height, tip.id, tip.height)
	}
	if got := (UTXOStats{TxOuts: st.TxOuts, TotalAmount: st.TotalAmount, Hash: st.Hash}); got != want {
		return fmt.Errorf("utxo set differs from one computed from genesis:\nstored     %d coins, %d units, hash %s\nrecomputed %d coins, %d units, hash %s",
			st.TxOuts, st.TotalAmount, st.Hash, want.TxOuts, want.TotalAmount, want.Hash)
	}
	return nil
}

// recomputeUTXO builds the UTXO set by applying the best chain from genesis
// to a map (genesis outputs at height 0 as coinbase outputs) and hashes it
// in (txid bytes, index) order.
func recomputeUTXO(c *Chain) (UTXOStats, error) {
	coins := make(map[wire.OutPoint]wire.Coin)
	tip := c.Tip()
	var prev wire.Hash
	for h := uint64(0); h <= tip.Height; h++ {
		id, ok := c.IDAt(h)
		if !ok {
			return UTXOStats{}, fmt.Errorf("no best-chain block at height %d of %d", h, tip.Height)
		}
		b, err := c.Block(id)
		if err != nil {
			return UTXOStats{}, err
		}
		if b.BlockID() != id || b.Header.PrevBlock != prev {
			return UTXOStats{}, fmt.Errorf("best-chain block at height %d: stored id or parent does not match", h)
		}
		prev = id
		for i, tx := range b.Txs {
			txid := tx.TxID()
			if i > 0 {
				for _, in := range tx.Inputs {
					if _, ok := coins[in.Prev]; !ok {
						return UTXOStats{}, fmt.Errorf("block %d tx %s spends missing output %s:%d", h, txid, in.Prev.TxID, in.Prev.Index)
					}
					delete(coins, in.Prev)
				}
			}
			for j, o := range tx.Outputs {
				coins[wire.OutPoint{TxID: txid, Index: uint32(j)}] = wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: h, Coinbase: i == 0}
			}
		}
	}
	if prev != tip.ID {
		return UTXOStats{}, fmt.Errorf("best chain ends at %s, tip is %s", prev, tip.ID)
	}
	ops := make([]wire.OutPoint, 0, len(coins))
	for op := range coins {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b wire.OutPoint) int {
		if c := bytes.Compare(a.TxID[:], b.TxID[:]); c != 0 {
			return c
		}
		return int(int64(a.Index) - int64(b.Index))
	})
	s := NewUTXOSetHasher()
	for _, op := range ops {
		s.Add(op, coins[op])
	}
	return UTXOStats{TxOuts: s.Count, TotalAmount: s.Amount, Hash: s.Sum()}, nil
}

// crashRun is what one child reported before it was killed.
type crashRun struct {
	work   *big.Int // the highest tip work it reported
	blocks int
	reorgs int
	stderr string
}

// runCrashChild starts the child on dir, waits until it has opened the
// chain, lets it run for life (and at least until it has processed a
// block) and kills it with SIGKILL.
func runCrashChild(t *testing.T, dir string, seed int64, life time.Duration) crashRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%s", crashChildEnv, seed, dir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		run   crashRun
		ready = make(chan struct{})
		first = make(chan struct{}) // the first block is processed
		eof   = make(chan struct{})
	)
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(stdout)
		isReady := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == crashReadyLine && !isReady:
				isReady = true
				close(ready)
			case strings.HasPrefix(line, crashWorkPrefix):
				w, ok := new(big.Int).SetString(strings.TrimPrefix(line, crashWorkPrefix), 16)
				mu.Lock()
				if ok && (run.work == nil || w.Cmp(run.work) > 0) {
					run.work = w
				}
				run.blocks++
				if run.blocks == 1 {
					close(first)
				}
				mu.Unlock()
			case line == "reorg":
				mu.Lock()
				run.reorgs++
				mu.Unlock()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	died := func(what string) {
		<-eof
		err := cmd.Wait()
		t.Fatalf("crash child %s: %v\nstderr:\n%s", what, err, stderr.String())
	}
	select {
	case <-ready:
	case <-eof:
		died("exited before it was ready")
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		died("not ready after 60 s")
	}
	select {
	case <-eof:
		died("exited on its own")
	case <-time.After(life):
	}
	// A slow child (-race, a loaded machine) processes at least one block
	// before it dies, so that every run moves the chain on.
	select {
	case <-first:
	case <-eof:
		died("exited on its own")
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		died("processed no block in 60 s")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill crash child: %v", err)
	}
	<-eof
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		// ExitCode -1: terminated by a signal, as meant.
		t.Fatalf("crash child ended with %v before the kill\nstderr:\n%s", err, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	run.stderr = stderr.String()
	return run
}

// TestCrashChild is the child process of TestCrashRecovery; on its own it
// skips.
func TestCrashChild(t *testing.T) {
	arg := os.Getenv(crashChildEnv)
	if arg == "" {
		t.Skip("the child process of TestCrashRecovery")
	}
	seedText, dir, ok := strings.Cut(arg, ":")
	seed, err := strconv.ParseInt(seedText, 10, 64)
	if !ok || err != nil {
		fmt.Fprintf(os.Stderr, "crash child: bad %s=%q\n", crashChildEnv, arg)
		os.Exit(2)
	}
	err = crashChildLoop(dir, seed, os.Stdout)
	fmt.Fprintf(os.Stderr, "crash child: %v\n", err)
	os.Exit(2)
}

// crashChild builds blocks on the chain it finds, choosing what to spend
// from the chain itself, so each restart goes on where the last one died.
type crashChild struct {
	c   *Chain
	g   *testgen.Gen
	rng *rand.Rand
	out io.Writer
}

// crashChildLoop runs until an error: it never returns nil.
func crashChildLoop(dir string, seed int64, out io.Writer) error {
	p := testgen.DevParams()
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	// Vary the cache so flushes fall at different points; 0 writes
	// every block through.
	cache := []int{0, 16 << 10, 64 << 10, 64 << 10, 256 << 10}[rng.IntN(5)]
	c, err := Open(dir, Config{Params: p, CacheBytes: cache, Now: crashNow})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	fmt.Fprintln(out, crashReadyLine)
	k := &crashChild{c: c, g: testgen.New(p), rng: rng, out: out}
	for {
		tip := c.Tip()
		if tip.Height >= 6 && rng.IntN(5) == 0 {
			err = k.reorg(1 + rng.IntN(4))
		} else {
			err = k.extend()
		}
		if err != nil {
			return err
		}
	}
}

func (k *crashChild) mainBlock(h uint64) (*wire.Block, error) {
	id, ok := k.c.IDAt(h)
	if !ok {
		return nil, fmt.Errorf("no best-chain block at height %d", h)
	}
	return k.c.Block(id)
}

func (k *crashChild) parentAt(h uint64) (testgen.Parent, error) {
	id, ok := k.c.IDAt(h)
	if !ok {
		return testgen.Parent{}, fmt.Errorf("no best-chain block at height %d", h)
	}
	bi, _ := k.c.BlockInfo(id)
	return testgen.Parent{ID: id, Header: bi.Header, Height: h}, nil
}

// spendable returns the outputs of the genesis block and of the best-chain
// blocks in the window ending at height at that are unspent as of at and
// may be spent at height at+1.
func (k *crashChild) spendable(at uint64) ([]testgen.Spend, error) {
	spentLater := make(map[wire.OutPoint]bool)
	for h := at + 1; h <= k.c.Tip().Height; h++ {
		b, err := k.mainBlock(h)
		if err != nil {
			return nil, err
		}
		for _, tx := range b.Txs[1:] {
			for _, in := range tx.Inputs {
				spentLater[in.Prev] = true
			}
		}
	}
	var out []testgen.Spend
	consider := func(tx *wire.Tx, height uint64, coinbase bool) error {
		if coinbase && height > 0 && at+1 < height+k.c.p.CoinbaseMaturity {
			return nil
		}
		for _, s := range testgen.Outputs(tx) {
			_, unspent, err := k.c.Coin(s.Out)
			if err != nil {
				return err
			}
			if unspent || spentLater[s.Out] {
				out = append(out, s)
			}
		}
		return nil
	}
	if err := consider(k.c.p.Genesis.Txs[0], 0, true); err != nil {
		return nil, err
	}
	from := uint64(1)
	if at > crashWindow {
		from = at - crashWindow + 1
	}
	for h := from; h <= at; h++ {
		b, err := k.mainBlock(h)
		if err != nil {
			return nil, err
		}
		for i, tx := range b.Txs {
			if err := consider(tx, h, i == 0); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// payments makes up to n transactions spending from pool (which they update:
// inputs leave, outputs join, so later ones may spend earlier ones).
func (k *crashChild) payments(pool *[]testgen.Spend, n int) []*wire.Tx {
	var txs []*wire.Tx
	for len(txs) < n && len(*pool) > 0 {
		nIn := 1
		if k.rng.IntN(5) == 0 && len(*pool) > 1 {
			nIn = 2
		}
		var in []testgen.Spend
		var total uint64
		for range nIn {
			i := k.rng.IntN(len(*pool))
			in = append(in, (*pool)[i])
			total += (*pool)[i].Amount
			(*pool)[i] = (*pool)[len(*pool)-1]
			*pool = (*pool)[:len(*pool)-1]
		}
		fee := uint64(0)
		if total > 1000 {
			fee = k.rng.Uint64N(100)
		}
		outs := uint64(1 + k.rng.IntN(3))
		outs = min(outs, total-fee)
		tx := k.g.Pay(in, int(outs), fee)
		txs = append(txs, tx)
		*pool = append(*pool, testgen.Outputs(tx)...)
	}
	return txs
}

// submit processes b and reports the tip's work.
func (k *crashChild) submit(b *wire.Block, want Result) error {
	res, err := k.c.ProcessBlock(b)
	if err != nil {
		return fmt.Errorf("process block at %d: %w", k.c.Tip().Height, err)
	}
	if res != want {
		return fmt.Errorf("block %s went to %v, want %v", b.BlockID(), res, want)
	}
	fmt.Fprintf(k.out, "%s%x\n", crashWorkPrefix, k.c.Tip().Work)
	return nil
}

// extend adds one block on the tip.
func (k *crashChild) extend() error {
	tip := k.c.Tip()
	pool, err := k.spendable(tip.Height)
	if err != nil {
		return err
	}
	txs := k.payments(&pool, 1+k.rng.IntN(crashMaxTxs))
	jitter := uint64(k.rng.IntN(60))
	b := k.g.Block(testgen.Parent{ID: tip.ID, Header: tip.Header, Height: tip.Height}, txs, func(b *wire.Block) { b.Header.Time += jitter })
	return k.submit(b, MainChain)
}

// reorg builds a branch from depth blocks below the tip: its first block
// takes some of the transactions of the block it replaces, the rest spend
// differently. Usually the branch is one block longer than the blocks it
// replaces and becomes the best chain; sometimes it only ties and stays a
// side branch.
func (k *crashChild) reorg(depth int) error {
	tip := k.c.Tip()
	fork := tip.Height - uint64(depth)
	parent, err := k.parentAt(fork)
	if err != nil {
		return err
	}
	pool, err := k.spendable(fork)
	if err != nil {
		return err
	}
	replaced, err := k.mainBlock(fork + 1)
	if err != nil {
		return err
	}
	length := depth + 1
	if k.rng.IntN(8) == 0 {
		length = depth
	}
	var branch []*wire.Block
	for i := range length {
		var txs []*wire.Tx
		if i == 0 {
			txs = k.retake(&pool, replaced.Txs[1:])
		}
		txs = append(txs, k.payments(&pool, k.rng.IntN(crashMaxTxs))...)
		// Times differ from the main chain's (jitter below 60 s there).
		jitter := uint64(100 + k.rng.IntN(100))
		b := k.g.Block(parent, txs, func(b *wire.Block) { b.Header.Time += jitter })
		branch = append(branch, b)
		parent = testgen.ParentOf(b, parent.Height+1)
	}
	for i, b := range branch {
		want := SideChain
		if i == depth {
			want = MainChain
		}
		if err := k.submit(b, want); err != nil {
			return fmt.Errorf("branch of depth %d, block %d: %w", depth, i+1, err)
		}
	}
	if length > depth {
		if k.c.Tip().ID != branch[len(branch)-1].BlockID() {
			return errors.New("heavier branch did not become the tip")
		}
		fmt.Fprintln(k.out, "reorg")
	}
	return nil
}

// retake returns about half of txs whose inputs are all in pool, updating
// pool as payments does.
func (k *crashChild) retake(pool *[]testgen.Spend, txs []*wire.Tx) []*wire.Tx {
	var out []*wire.Tx
	for _, tx := range txs {
		if k.rng.IntN(2) == 0 {
			continue
		}
		idx := make([]int, 0, len(tx.Inputs))
		for _, in := range tx.Inputs {
			j := slices.IndexFunc(*pool, func(s testgen.Spend) bool { return s.Out == in.Prev })
			if j < 0 {
				break
			}
			idx = append(idx, j)
		}
		if len(idx) != len(tx.Inputs) {
			continue
		}
		slices.Sort(idx)
		for j := len(idx) - 1; j >= 0; j-- {
			*pool = slices.Delete(*pool, idx[j], idx[j]+1)
		}
		out = append(out, tx)
		*pool = append(*pool, testgen.Outputs(tx)...)
	}
	return out
}

// TestReorgRetakenTxSpentStaysSpent: a transaction flushed to disk in a
// block that a reorg disconnects, taken again by the new branch and then
// spent before the next flush, must leave its spent output spent. (The
// UTXO cache once marked the re-added output fresh, so spending it dropped
// the entry and the coin on disk came back.)
//
//	genesis -> b1(tx)                      flushed, then
//	        \-> a1(tx, time+1) -> a2(spends tx:0)   heavier
func TestReorgRetakenTxSpentStaysSpent(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	c, err := OpenMemory(Config{Params: p, CacheBytes: 1 << 20, NoSync: true, Now: crashNow})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tx := g.Pay(g.GenesisSpends(), 2, 0)
	b1 := g.Block(g.Genesis(), []*wire.Tx{tx})
	if _, err := c.ProcessBlock(b1); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	a1 := g.Block(g.Genesis(), []*wire.Tx{tx}, func(b *wire.Block) { b.Header.Time++ })
	spent := testgen.Outputs(tx)[0]
	a2 := g.Block(testgen.ParentOf(a1, 1), []*wire.Tx{g.Pay([]testgen.Spend{spent}, 1, 0)})
	for _, b := range []*wire.Block{a1, a2} {
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if c.Tip().ID != a2.BlockID() {
		t.Fatal("tip is not a2")
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Coin(spent.Out); ok || err != nil {
		t.Fatalf("output spent in a2 is unspent after the flush (err %v)", err)
	}
	if err := checkCrashState(c); err != nil {
		t.Fatal(err)
	}
}
