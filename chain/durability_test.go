package chain

import (
	"context"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// openOn opens a chain on stor (a new DB handle over the same storage, as
// a restarted node would).
func openOn(t *testing.T, stor *testStorage, o *opt.Options, cfg Config) (*Chain, *leveldb.DB, error) {
	t.Helper()
	db, err := leveldb.Open(stor, o)
	if err != nil {
		return nil, nil, err
	}
	cfg.BlockFS, cfg.BlocksDir = stor.blocks, "/blocks"
	c, err := New(db, cfg)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return c, db, nil
}

// TestStorageFaultStopsChain plays a dying disk in the middle of
// connecting valid blocks, first on a read (the coin an input spends),
// then on a write (the connect batch): the error is not taken for a rule
// violation, nothing is marked invalid, the chain refuses further work,
// Failed closes and Run returns the failure; a restart on healthy storage
// reaches the right tip with the right UTXO set.
func TestStorageFaultStopsChain(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	stor := newTestStorage()
	o := &opt.Options{DisableBlockCache: true}
	cfg := Config{Params: p, NoSync: true, Now: crashNow, FlushInterval: time.Hour}
	c, db, err := openOn(t, stor, o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tx1 := g.Pay(g.GenesisSpends(), 2, 100)
	b1 := g.Block(g.Genesis(), []*wire.Tx{tx1})
	if _, err := c.ProcessBlock(b1); err != nil {
		t.Fatal(err)
	}
	tx2 := g.Pay(testgen.Outputs(tx1)[:1], 1, 100)
	b2 := g.Block(testgen.ParentOf(b1, 1), []*wire.Tx{tx2})
	tx3 := g.Pay(testgen.Outputs(tx1)[1:], 1, 100)
	b3 := g.Block(testgen.ParentOf(b2, 2), []*wire.Tx{tx3})

	for _, fault := range []struct {
		name          string
		reads, writes bool
		block         *wire.Block
	}{
		{"read", true, false, b2},
		{"write", false, true, b3},
	} {
		// The coins are in table files, so looking them up reads the
		// storage.
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := db.CompactRange(util.Range{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- c.Run(ctx) }()
		tipBefore := c.Tip().ID

		stor.setFaults(fault.reads, fault.writes)
		_, err := c.ProcessBlock(fault.block)
		if err == nil {
			t.Fatalf("%s fault: block accepted", fault.name)
		}
		if reason, _, ok := consensus.Classify(err); ok {
			t.Fatalf("%s fault: the storage error came back as rule kind %q: %v", fault.name, reason, err)
		}
		select {
		case <-c.Failed():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s fault: Failed not closed after %v", fault.name, err)
		}
		select {
		case rerr := <-runErr:
			if rerr == nil || c.Err() == nil {
				t.Fatalf("%s fault: Run returned %v, Err %v; want the failure", fault.name, rerr, c.Err())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s fault: Run did not return", fault.name)
		}
		cancel()
		if bi, ok := c.BlockInfo(fault.block.BlockID()); ok && bi.Invalid {
			t.Fatalf("%s fault: a valid block was marked invalid", fault.name)
		}
		if c.Tip().ID != tipBefore {
			t.Fatalf("%s fault: the tip moved", fault.name)
		}
		stor.setFaults(false, false)
		if _, err := c.ProcessBlock(fault.block); !errors.Is(err, ErrBroken) {
			t.Fatalf("%s fault: after the failure ProcessBlock gave %v, want ErrBroken", fault.name, err)
		}
		c.Close()
		db.Close()

		// Restart on healthy storage.
		c, db, err = openOn(t, stor, o, cfg)
		if err != nil {
			t.Fatalf("%s fault: reopen: %v", fault.name, err)
		}
		if _, err := c.ProcessBlock(fault.block); err != nil && !errors.Is(err, ErrDuplicate) {
			t.Fatalf("%s fault: after restart: %v", fault.name, err)
		}
		if c.Tip().ID != fault.block.BlockID() {
			t.Fatalf("%s fault: after restart the tip is %s at %d, want %s", fault.name, c.Tip().ID, c.Tip().Height, fault.block.BlockID())
		}
		if err := checkCrashState(c); err != nil {
			t.Fatalf("%s fault: after restart: %v", fault.name, err)
		}
	}
	c.Close()
	db.Close()
}

// TestRunFlushes: Run writes the UTXO cache and the tip to disk on its
// interval and returns nil when its context ends.
func TestRunFlushes(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	c, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, CacheBytes: 64 << 20, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := g.Block(g.Genesis(), nil)
	if _, err := c.ProcessBlock(b); err != nil {
		t.Fatal(err)
	}
	diskTip := func() wire.Hash {
		raw, err := c.db.Get(keyTip, nil)
		if err != nil {
			t.Fatal(err)
		}
		return wire.Hash(raw)
	}
	if diskTip() == b.BlockID() {
		t.Fatal("the cache was flushed before Run: the test cannot tell")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for diskTip() != b.BlockID() {
		if time.Now().After(deadline) {
			t.Fatal("Run did not flush the UTXO cache")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after its context ended", err)
	}
}

// TestPowerCut cuts the power at random points while a chain is extended
// and reorganized on a storage that forgets every write not yet synced
// (testStorage), then restarts on what survived: the chain must open to
// the best stored tip, with a UTXO set equal to one computed from
// genesis, and without losing any block whose processing had returned
// before the cut. A small LevelDB write buffer makes the journal rotate
// often: LevelDB does not sync a journal it rotates away from.
// TALLY_POWERCUT_CUTS raises the number of cuts (default 30);
// TALLY_POWERCUT_SEED repeats a run.
func TestPowerCut(t *testing.T) {
	cuts := 30
	if v, err := strconv.Atoi(os.Getenv("TALLY_POWERCUT_CUTS")); err == nil && v > 0 {
		cuts = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("TALLY_POWERCUT_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (TALLY_POWERCUT_SEED repeats the run)", seed)
	rng := rand.New(rand.NewPCG(seed, 11))
	p := testgen.DevParams()
	stor := newTestStorage()
	o := &opt.Options{WriteBuffer: 16 << 10}
	durable := new(big.Int) // work of the last block processed before a cut
	blocks := 0
	for i := 0; i < cuts; i++ {
		cache := []int{0, 16 << 10, 64 << 10}[rng.IntN(3)]
		c, db, err := openOn(t, stor, o, Config{Params: p, CacheBytes: cache, Now: crashNow})
		if err != nil {
			t.Fatalf("cut %d: reopen: %v", i, err)
		}
		if tip := c.Tip(); tip.Work.Cmp(durable) < 0 {
			t.Fatalf("cut %d: tip %s at %d has work %x, below %x processed before the cut", i, tip.ID, tip.Height, tip.Work, durable)
		}
		if err := checkCrashState(c); err != nil {
			t.Fatalf("cut %d: %v", i, err)
		}
		stor.cutAfter(1 + rng.IntN(300))
		k := &crashChild{c: c, g: testgen.New(p), rng: rng, out: io.Discard}
		for n := 0; n < 400 && !stor.cut(); n++ {
			var err error
			if c.Tip().Height >= 6 && rng.IntN(5) == 0 {
				err = k.reorg(1 + rng.IntN(4))
			} else {
				err = k.extend()
			}
			if err != nil {
				t.Fatalf("cut %d: %v", i, err)
			}
			blocks++
			if !stor.cut() {
				durable.Set(c.Tip().Work)
			}
		}
		c.Close()
		db.Close()
		stor.reboot()
	}
	t.Logf("%d power cuts, %d blocks processed", cuts, blocks)
}

// TestUTXOStatsWhileProcessing: gettxoutsetinfo scans a snapshot taken
// with its tip, outside the writer lock, while blocks keep coming: every
// answer must be the UTXO set exactly as of the block it names (checked
// against a second chain that computed the stats after each block).
func TestUTXOStatsWhileProcessing(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	open := func() *Chain {
		c, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ref, c := open(), open()
	defer ref.Close()
	defer c.Close()
	// Blocks that each change the UTXO set.
	var blocks []*wire.Block
	parent := g.Genesis()
	coins := g.GenesisSpends()
	for h := uint64(1); h <= 40; h++ {
		tx := g.Pay(coins[:1], 3, 10)
		coins = append(coins[1:], testgen.Outputs(tx)...)
		b := g.Block(parent, []*wire.Tx{tx})
		blocks = append(blocks, b)
		parent = testgen.ParentOf(b, h)
	}
	want := make(map[wire.Hash]UTXOStats)
	st, err := ref.UTXOStats()
	if err != nil {
		t.Fatal(err)
	}
	want[st.BestBlock] = st
	for _, b := range blocks {
		if _, err := ref.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		st, err := ref.UTXOStats()
		if err != nil {
			t.Fatal(err)
		}
		want[st.BestBlock] = st
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range blocks {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	answers := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		st, err := c.UTXOStats()
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := want[st.BestBlock]; !ok || w != st {
			t.Fatalf("stats at height %d: %+v, want %+v", st.Height, st, w)
		}
		answers++
	}
	t.Logf("%d consistent answers while %d blocks were processed", answers, len(blocks))
}
