package chain

import (
	"errors"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// storedChain builds a short chain in a temp dir and closes it.
func storedChain(t *testing.T) (string, *consensus.Params) {
	t.Helper()
	p := testgen.DevParams()
	g := testgen.New(p)
	dir := t.TempDir()
	c, err := Open(dir, Config{Params: p, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	parent := g.Genesis()
	for h := uint64(1); h <= 3; h++ {
		b := g.Block(parent, nil)
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		parent = testgen.ParentOf(b, h)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, p
}

// damage opens the raw database and applies fn.
func damage(t *testing.T, dir string, fn func(db *leveldb.DB)) {
	t.Helper()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestForeignDatabaseRefused(t *testing.T) {
	dir, _ := storedChain(t)
	public, err := consensus.Default(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Config{Params: public}); !errors.Is(err, ErrForeignDB) {
		t.Fatalf("opening a dev database with public params: %v, want ErrForeignDB", err)
	}
}

func TestCorruptDatabaseRefused(t *testing.T) {
	cases := []struct {
		name string
		hurt func(db *leveldb.DB)
	}{
		{"tip points nowhere", func(db *leveldb.DB) { db.Put(keyTip, make([]byte, 32), nil) }},
		{"tip truncated", func(db *leveldb.DB) { db.Put(keyTip, []byte{1, 2, 3}, nil) }},
		{"index entry truncated", func(db *leveldb.DB) {
			it := db.NewIterator(nil, nil)
			defer it.Release()
			for it.Next() {
				if it.Key()[0] == prefixIndex {
					db.Put(append([]byte(nil), it.Key()...), it.Value()[:10], nil)
					return
				}
			}
		}},
		{"version key garbled", func(db *leveldb.DB) { db.Put(keyVersion, []byte("garbage"), nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, p := storedChain(t)
			damage(t, dir, tc.hurt)
			c, err := Open(dir, Config{Params: p})
			if err == nil {
				c.Close()
				t.Fatal("a damaged database opened without error")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeignDB) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrForeignDB", err)
			}
		})
	}
}

func TestCorruptCoinIsAnError(t *testing.T) {
	dir, p := storedChain(t)
	damage(t, dir, func(db *leveldb.DB) {
		it := db.NewIterator(nil, nil)
		defer it.Release()
		for it.Next() {
			if it.Key()[0] == prefixCoin {
				db.Put(append([]byte(nil), it.Key()...), []byte{1}, nil)
				return
			}
		}
	})
	c, err := Open(dir, Config{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.UTXOStats(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("UTXOStats over a garbled coin: %v, want ErrCorrupt", err)
	}
}

// TestReadAheadFromDisk: blocks whose inputs are all on disk (no cache)
// are read ahead in parallel; the result must be the one a cached chain
// reaches, an input that exists nowhere still breaks the rules, and a
// block spending an output of its own still connects.
func TestReadAheadFromDisk(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	disk, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	mem, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, CacheBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	both := func(b *wire.Block) {
		t.Helper()
		for _, c := range []*Chain{disk, mem} {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	fan, parent, outs := g.FanOut(g.Genesis(), 400)
	for _, b := range fan {
		both(b)
	}
	if ahead := disk.readAhead(g.Block(parent, g.SpendOldest(&outs, 0))); ahead != nil {
		t.Fatal("read ahead for a block without inputs")
	}
	txs := g.SpendOldest(&outs, 2*readAheadMin)
	if ahead := disk.readAhead(g.Block(parent, txs)); len(ahead) != len(txs) {
		t.Fatalf("read ahead %d coins, want %d", len(ahead), len(txs))
	}
	if ahead := mem.readAhead(g.Block(parent, txs)); ahead != nil {
		t.Fatalf("read ahead %d coins the cache holds", len(ahead))
	}
	// A missing input among many read ahead.
	bad := append(append([]*wire.Tx(nil), txs...), g.Pay([]testgen.Spend{{Out: wire.OutPoint{Index: 7}, Amount: 1000}}, 1, 0))
	if _, err := disk.ProcessBlock(g.Block(parent, bad)); !errors.Is(err, consensus.ErrMissingInput) {
		t.Fatalf("block with an input that exists nowhere: %v", err)
	}
	// A spend of an output of the same block.
	child := g.Pay(testgen.Outputs(txs[0])[:1], 1, 100)
	b := g.Block(parent, append(txs, child))
	both(b)
	sameUTXO(t, disk, mem)
}
