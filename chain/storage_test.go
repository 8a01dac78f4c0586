package chain

import (
	"errors"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/consensus"
	"tally/internal/testgen"
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
