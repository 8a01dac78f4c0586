package indexes

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/storage"

	"tally/chain"
	"tally/wire"
)

// synthBlock builds a block of n one-input two-output payments (the
// benchmark's shape) in which every output and every spent coin has its
// own owner, so nothing shares a key prefix by luck. Signatures are left
// zero: the indexes never read them.
func synthBlock(n int) (*wire.Block, []wire.Hash, []wire.Coin) {
	owner := func(i, k int) (p [20]byte) {
		binary.BigEndian.PutUint64(p[:], uint64(i)<<8|uint64(k))
		return wire.Hash160(p[:])
	}
	b := &wire.Block{Txs: []*wire.Tx{{Version: 1, Extra: []byte{1}, Outputs: []wire.TxOut{{Amount: 50_0000_0000, PKH: owner(0, 9)}}}}}
	var spent []wire.Coin
	for i := 1; i <= n; i++ {
		prev := wire.OutPoint{TxID: wire.H([]byte{byte(i), byte(i >> 8), 'p'}), Index: 1}
		b.Txs = append(b.Txs, &wire.Tx{Version: 1,
			Inputs:  []wire.TxIn{{Prev: prev}},
			Outputs: []wire.TxOut{{Amount: 1_2345_6789, PKH: owner(i, 1)}, {Amount: 8_7654_3210, PKH: owner(i, 2)}}})
		spent = append(spent, wire.Coin{Amount: 9_9999_9999 + 200, PKH: owner(i, 0), Height: 400_000})
	}
	return b, b.TxIDs(), spent
}

// TestBatchBytesPerPayment bounds what both indexes add to a block's
// connect batch: layout 1 added 532 bytes per one-input two-output
// payment, 2.6 times the payment's own 205 bytes.
func TestBatchBytesPerPayment(t *testing.T) {
	const n = 2000
	b, txids, spent := synthBlock(n)
	batch := new(leveldb.Batch)
	NewTxIndex().ConnectBlock(batch, b, txids, 500_000, spent)
	tx := len(batch.Dump())
	NewAddrIndex().ConnectBlock(batch, b, txids, 500_000, spent)
	all := len(batch.Dump())
	perTx, ratio := float64(all)/n, float64(all)/float64(len(b.Encode()))
	t.Logf("txindex %.1f, addrindex %.1f bytes per payment; %.2f bytes per byte of block", float64(tx)/n, float64(all-tx)/n, ratio)
	if perTx > 230 || ratio > 1.15 {
		t.Fatalf("indexes add %.1f bytes per payment, %.2f per byte of block", perTx, ratio)
	}
}

func memDB(t *testing.T) *leveldb.DB {
	t.Helper()
	db, err := leveldb.Open(storage.NewMemStorage(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func write(t *testing.T, db *leveldb.DB, fn func(*leveldb.Batch)) {
	t.Helper()
	batch := new(leveldb.Batch)
	fn(batch)
	if err := db.Write(batch, nil); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryPositionsPastOneByte: positions of 128 and more take two
// bytes or more in history keys, and must still sort as numbers (with
// uvarints, 300 would sort before 200 and the spend below would come
// before its coin). A coin received at position 200 and spent at position
// 300 of the same block is spent, the history comes by txid within the
// height, and paging gives every entry once.
func TestHistoryPositionsPastOneByte(t *testing.T) {
	var p [20]byte
	p[0] = 0x5a
	b := &wire.Block{Txs: []*wire.Tx{{Version: 1, Extra: []byte{1}, Outputs: []wire.TxOut{{Amount: 7, PKH: p}}}}}
	for i := 1; i < 320; i++ {
		b.Txs = append(b.Txs, &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: wire.OutPoint{TxID: wire.H([]byte{byte(i), byte(i >> 8)})}}},
			Outputs: []wire.TxOut{{Amount: uint64(1000 + i), PKH: p}}})
	}
	txids := b.TxIDs()
	// Position 300 spends position 200's output instead of a coin from
	// outside.
	b.Txs[300].Inputs[0].Prev = wire.OutPoint{TxID: txids[200]}
	txids = b.TxIDs()
	var spent []wire.Coin
	for i := 1; i < 320; i++ {
		c := wire.Coin{Amount: 100, PKH: other, Height: 3}
		if i == 300 {
			c = wire.Coin{Amount: 1200, PKH: p, Height: 9}
		}
		spent = append(spent, c)
	}
	db := memDB(t)
	ix := NewAddrIndex()
	write(t, db, func(batch *leveldb.Batch) { ix.ConnectBlock(batch, b, txids, 9, spent) })

	bal, err := ix.Balance(db, p)
	want := uint64(7)
	for i := 1; i < 320; i++ {
		want += uint64(1000 + i)
	}
	if err != nil || bal.UTXOs != 319 || bal.Received != want || bal.Balance != want-1200 {
		t.Fatalf("balance %+v %v, want %d received, %d held in 319 outputs", bal, err, want, want-1200)
	}
	utxos, more, err := ix.UTXOs(db, p, nil, 1000)
	if err != nil || more || len(utxos) != 319 {
		t.Fatalf("utxos: %d %v %v", len(utxos), more, err)
	}
	for _, u := range utxos {
		if u.OutPoint.TxID == txids[200] {
			t.Fatal("the output spent at position 300 is listed unspent")
		}
		if u.Coinbase != (u.OutPoint.TxID == txids[0]) || u.Height != 9 {
			t.Fatalf("utxo %+v", u)
		}
	}
	refs, more, err := ix.TxIDs(db, p, 0, 100, nil, 1000)
	if err != nil || more || len(refs) != 320 {
		t.Fatalf("history: %d %v %v", len(refs), more, err)
	}
	sorted := slices.Clone(txids)
	slices.SortFunc(sorted, func(a, b wire.Hash) int { return bytes.Compare(a[:], b[:]) })
	for i, r := range refs {
		if r.TxID != sorted[i] {
			t.Fatalf("history entry %d is %s, want %s (by txid within a height)", i, r.TxID, sorted[i])
		}
		if r.TxID == txids[300] && (r.Spent != 1200 || r.Received != 1300) {
			t.Fatalf("position 300: %+v", r)
		}
	}
	var paged []TxRef
	var after *TxRef
	for {
		page, more, err := ix.TxIDs(db, p, 0, 100, after, 7)
		if err != nil || len(page) > 7 {
			t.Fatalf("page: %d %v", len(page), err)
		}
		paged = append(paged, page...)
		if !more {
			break
		}
		after = &page[len(page)-1]
	}
	if !slices.Equal(paged, refs) {
		t.Fatalf("paged by 7: %d entries, want %d", len(paged), len(refs))
	}
}

// TestPosEncoding: positions round-trip, sort as numbers, and have one
// encoding each.
func TestPosEncoding(t *testing.T) {
	var prev []byte
	for _, p := range []uint32{0, 1, 127, 128, 129, 255, 256, 16383, 16384, 1<<21 - 1, 1 << 21, 1<<32 - 1} {
		enc := appendPos(nil, p)
		got, n, ok := decodePos(append(enc, 0x55))
		if !ok || got != p || n != len(enc) {
			t.Fatalf("%d: encoded %x, decoded %d %d %v", p, enc, got, n, ok)
		}
		if prev != nil && bytes.Compare(prev, enc) >= 0 {
			t.Fatalf("%d (%x) does not sort after the previous %x", p, enc, prev)
		}
		for i := 0; i < len(enc); i++ {
			if _, _, ok := decodePos(enc[:i]); ok {
				t.Fatalf("%x cut at %d decodes", enc, i)
			}
		}
		prev = enc
	}
	for _, b := range [][]byte{{0x80, 0x05}, {0xc0, 0x00, 0x05}, {0xe0, 0, 0, 0, 5}, {0xf0, 0, 0, 0, 0}} {
		if _, _, ok := decodePos(b); ok {
			t.Fatalf("%x decodes", b)
		}
	}
}

// TestHistoryRoundTrip decodes what apply encodes, and refuses every
// truncation and extension of it.
func TestHistoryRoundTrip(t *testing.T) {
	pkh := [20]byte{1, 2, 3}
	prev := wire.OutPoint{TxID: wire.H([]byte("coin")), Index: 70_000}
	cases := []historyEntry{
		{height: 0, pos: 0, dir: DirReceived, coinbase: true, n: 0, amount: 50_0000_0000},
		{height: 1<<32 - 1, pos: 1<<32 - 1, dir: DirReceived, n: 1<<32 - 1, amount: 1<<64 - 1},
		{height: 123_456, pos: 300, dir: DirSpent, n: 129, amount: 0, prev: prev},
	}
	for _, e := range cases {
		k := appendHistoryKey(nil, &pkh, e.height, e.pos, historyTag(e.dir, e.coinbase, e.n))
		v := binary.AppendUvarint(nil, e.amount)
		if e.dir == DirSpent {
			v = binary.AppendUvarint(append(v, e.prev.TxID[:]...), uint64(e.prev.Index))
		}
		got, err := decodeHistory(k, v)
		if err != nil || got != e {
			t.Fatalf("round trip of %+v: %+v %v", e, got, err)
		}
		for i := 0; i < len(k); i++ {
			if _, err := decodeHistory(k[:i], v); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("key cut at %d: %v", i, err)
			}
		}
		for i := 0; i < len(v); i++ {
			if _, err := decodeHistory(k, v[:i]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("value cut at %d: %v", i, err)
			}
		}
		if _, err := decodeHistory(append(k, 0), v); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("key with a byte more: %v", err)
		}
		if _, err := decodeHistory(k, append(v, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("value with a byte more: %v", err)
		}
	}
	if _, err := decodeHistory(appendHistoryKey(nil, &pkh, 1, 1, historyTag(DirSpent, true, 0)), []byte{1}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a spend flagged coinbase: %v", err)
	}
	for _, v := range [][]byte{{}, {5}, {5, 1, 0}, bytes.Repeat([]byte{0xff}, 11), {0x80}} {
		if _, _, err := decodeTxValue(v); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("txindex value %x: %v", v, err)
		}
	}
	if h, pos, err := decodeTxValue([]byte{0xa0, 0x8d, 0x06, 0x81, 0x01}); err != nil || h != 100_000 || pos != 129 {
		t.Fatalf("txindex value: %d %d %v", h, pos, err)
	}
}

// TestCorruptEntries: every query answers ErrCorrupt, never a panic or a
// wrong answer, when an entry it reads is damaged or missing.
func TestCorruptEntries(t *testing.T) {
	b, txids, spent := synthBlock(3)
	owner := b.Txs[2].Outputs[1].PKH
	spender := spent[1].PKH
	tx, addr := NewTxIndex(), NewAddrIndex()
	fresh := func(t *testing.T) *leveldb.DB {
		db := memDB(t)
		write(t, db, func(batch *leveldb.Batch) {
			tx.ConnectBlock(batch, b, txids, 7, spent)
			addr.ConnectBlock(batch, b, txids, 7, spent)
		})
		return db
	}
	checkAddr := func(t *testing.T, db *leveldb.DB, pkh [20]byte, balance bool) {
		t.Helper()
		if balance {
			if _, err := addr.Balance(db, pkh); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Balance: %v", err)
			}
		}
		if _, _, err := addr.UTXOs(db, pkh, nil, 10); !errors.Is(err, ErrCorrupt) {
			t.Errorf("UTXOs: %v", err)
		}
	}
	checkHistory := func(t *testing.T, db *leveldb.DB, pkh [20]byte) {
		t.Helper()
		if _, _, err := addr.TxIDs(db, pkh, 0, ^uint64(0), nil, 10); !errors.Is(err, ErrCorrupt) {
			t.Errorf("TxIDs: %v", err)
		}
	}
	historyKey := func(pkh [20]byte, pos uint32, dir byte, n uint32) []byte {
		return appendHistoryKey(nil, &pkh, 7, pos, historyTag(dir, false, n))
	}

	t.Run("sound", func(t *testing.T) {
		db := fresh(t)
		if _, _, ok, err := tx.Lookup(db, txids[2]); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if u, _, err := addr.UTXOs(db, owner, nil, 10); err != nil || len(u) != 1 {
			t.Fatal(u, err)
		}
		if r, _, err := addr.TxIDs(db, spender, 0, 100, nil, 10); err != nil || len(r) != 1 || r[0].TxID != txids[2] {
			t.Fatal(r, err)
		}
	})
	t.Run("txindex value", func(t *testing.T) {
		db := fresh(t)
		db.Put(txKey(txids[2]), []byte{7, 2, 0}, nil)
		if _, _, _, err := tx.Lookup(db, txids[2]); !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
	t.Run("txindex block missing", func(t *testing.T) {
		db := fresh(t)
		db.Delete(txBlockKey(7), nil)
		if _, _, _, err := tx.Lookup(db, txids[2]); !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		db.Put(txBlockKey(7), []byte{1, 2}, nil)
		if _, _, _, err := tx.Lookup(db, txids[2]); !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
	t.Run("history value", func(t *testing.T) {
		db := fresh(t)
		db.Put(historyKey(owner, 2, DirReceived, 1), []byte{0x80}, nil)
		checkAddr(t, db, owner, true)
		checkHistory(t, db, owner)
	})
	t.Run("history key", func(t *testing.T) {
		db := fresh(t)
		db.Put(append(historyKey(owner, 2, DirReceived, 1), 0x80), []byte{1}, nil)
		checkAddr(t, db, owner, true)
		checkHistory(t, db, owner)
	})
	t.Run("spend without its coin", func(t *testing.T) {
		db := fresh(t)
		nowhere := wire.H([]byte("nowhere"))
		v := binary.AppendUvarint(nil, 5)
		v = binary.AppendUvarint(append(v, nowhere[:]...), 0)
		db.Put(historyKey(owner, 2, DirSpent, 0), v, nil)
		checkAddr(t, db, owner, false) // Balance sums; it sees no coin
		// A spend larger than everything received is caught by Balance.
		v = binary.AppendUvarint(nil, 1<<62)
		v = binary.AppendUvarint(append(v, nowhere[:]...), 0)
		db.Put(historyKey(owner, 2, DirSpent, 0), v, nil)
		checkAddr(t, db, owner, true)
	})
	t.Run("txids missing", func(t *testing.T) {
		db := fresh(t)
		db.Delete(appendTxIDKey(nil, 7, 0), nil)
		checkAddr(t, db, owner, false)
		checkHistory(t, db, owner)
	})
	t.Run("txids short", func(t *testing.T) {
		db := fresh(t)
		db.Put(appendTxIDKey(nil, 7, 0), txids[0][:], nil)
		checkAddr(t, db, owner, false)
		checkHistory(t, db, spender)
	})
}

// TestOldLayoutRebuilt: an index written in layout 1 (marker version 1,
// with its "i" entries) is deleted and built again on Catchup, with a log
// line that says so.
func TestOldLayoutRebuilt(t *testing.T) {
	bd := newBuilder(t)
	dir := t.TempDir()
	open := func(ixs ...chain.Indexer) *chain.Chain {
		t.Helper()
		c, err := chain.Open(dir, chain.Config{Params: bd.p, NoSync: true, Now: testNow, Indexers: ixs, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open()
	bd.extend(c, 3)
	// What layout 1 left: markers of version 1, entries under "i", "x"
	// and "a" in its own encoding.
	tip := c.Tip().ID
	old := append([]byte{1}, tip[:]...)
	write(t, c.DB(), func(batch *leveldb.Batch) {
		batch.Put(keyTxMarker, old)
		batch.Put(keyAddrMarker, old)
		batch.Put(append([]byte{prefixUnspent}, bytes.Repeat([]byte{0x11}, 56)...), bytes.Repeat([]byte{0}, 17))
		batch.Put(append([]byte{prefixTx}, bytes.Repeat([]byte{0x22}, 32)...), bytes.Repeat([]byte{0}, 36))
		batch.Put(append([]byte{prefixHistory}, bytes.Repeat([]byte{0x33}, 65)...), bytes.Repeat([]byte{0}, 8))
	})
	c.Close()

	var logs strings.Builder
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	tx, addr := NewTxIndex(), NewAddrIndex()
	c = open(tx, addr)
	defer c.Close()
	if err := Catchup(c, tx, addr); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, tx, addr) // no entry of layout 1 is left
	for _, name := range []string{"txindex", "addrindex"} {
		if !strings.Contains(logs.String(), name+": stored in layout version 1") {
			t.Fatalf("no log line for %s's rebuild: %q", name, logs.String())
		}
	}
}
