package indexes

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/chain"
	"tally/chain/blockfile"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

func testNow() time.Time { return time.Unix(4_000_000_000, 0) }

// other is a second owner; the generator pays it but cannot spend it.
var other = [20]byte{0xb0, 0xb0, 0xb0}

// builder extends chains with blocks that spend the generator's coins.
type builder struct {
	t         *testing.T
	p         *consensus.Params
	g         *testgen.Gen
	spendable []testgen.Spend
}

func newBuilder(t *testing.T) *builder {
	p := testgen.DevParams()
	g := testgen.New(p)
	return &builder{t: t, p: p, g: g, spendable: g.GenesisSpends()}
}

// pay spends the oldest spendable coin into an output to other, two change
// outputs and a fee; the change becomes spendable.
func (bd *builder) pay() *wire.Tx {
	s := bd.spendable[0]
	bd.spendable = bd.spendable[1:]
	fee := uint64(1000)
	rest := s.Amount - fee - 5000
	tx := bd.g.Tx([]testgen.Spend{s}, []wire.TxOut{
		{Amount: 5000, PKH: other},
		{Amount: rest / 2, PKH: bd.g.PKH},
		{Amount: rest - rest/2, PKH: bd.g.PKH},
	})
	bd.spendable = append(bd.spendable, testgen.Outputs(tx)[1:]...)
	return tx
}

// chainTx returns a transaction spending an output of parent created in
// the same block.
func (bd *builder) chainTx(parent *wire.Tx) *wire.Tx {
	out := testgen.Outputs(parent)[2]
	for i, s := range bd.spendable {
		if s.Out == out.Out {
			bd.spendable = slices.Delete(bd.spendable, i, i+1)
			break
		}
	}
	tx := bd.g.Pay([]testgen.Spend{out}, 1, 500)
	bd.spendable = append(bd.spendable, testgen.Outputs(tx)...)
	return tx
}

func (bd *builder) block(c *chain.Chain, parent testgen.Parent, txs ...*wire.Tx) *wire.Block {
	bd.t.Helper()
	b := bd.g.Block(parent, txs)
	if _, err := c.ProcessBlock(b); err != nil {
		bd.t.Fatalf("process block at height %d: %v", parent.Height+1, err)
	}
	return b
}

func tipParent(t *testing.T, c *chain.Chain) testgen.Parent {
	t.Helper()
	tip := c.Tip()
	return testgen.Parent{ID: tip.ID, Header: tip.Header, Height: tip.Height}
}

// extend adds n blocks of two payments (one with a child in the same
// block) on the tip.
func (bd *builder) extend(c *chain.Chain, n int) {
	for i := 0; i < n; i++ {
		a := bd.pay()
		bd.block(c, tipParent(bd.t, c), a, bd.chainTx(a), bd.pay())
	}
}

// dump returns every key and value under the index prefixes.
func dump(t *testing.T, db Reader) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, p := range []byte{prefixTx, prefixTxBlock, prefixHistory, prefixTxID, prefixUnspent} {
		it := db.NewIterator(util.BytesPrefix([]byte{p}), nil)
		for it.Next() {
			out[hex.EncodeToString(it.Key())] = hex.EncodeToString(it.Value())
		}
		it.Release()
	}
	return out
}

// expected computes the index entries from scratch by walking the best
// chain with an in-memory UTXO set.
func expected(t *testing.T, c *chain.Chain) map[string]string {
	t.Helper()
	out := make(map[string]string)
	put := func(k, v []byte) { out[hex.EncodeToString(k)] = hex.EncodeToString(v) }
	utxo := make(map[wire.OutPoint]wire.Coin)
	for h := uint64(0); ; h++ {
		id, ok := c.IDAt(h)
		if !ok {
			break
		}
		b, err := c.Block(id)
		if err != nil {
			t.Fatal(err)
		}
		put(txBlockKey(h), id[:])
		txids := b.TxIDs()
		for c := 0; c*txidsPerEntry < len(txids); c++ {
			var v []byte
			for _, id := range txids[c*txidsPerEntry : min(len(txids), (c+1)*txidsPerEntry)] {
				v = append(v, id[:]...)
			}
			put(appendTxIDKey(nil, h, uint32(c)), v)
		}
		for i, tx := range b.Txs {
			txid := tx.TxID()
			put(txKey(txid), binary.AppendUvarint(binary.AppendUvarint(nil, h), uint64(i)))
			for j, in := range tx.Inputs {
				if i == 0 {
					break
				}
				coin := utxo[in.Prev]
				delete(utxo, in.Prev)
				v := binary.AppendUvarint(nil, coin.Amount)
				v = binary.AppendUvarint(append(v, in.Prev.TxID[:]...), uint64(in.Prev.Index))
				put(appendHistoryKey(nil, &coin.PKH, h, uint32(i), historyTag(DirSpent, false, uint32(j))), v)
			}
			for j, o := range tx.Outputs {
				op := wire.OutPoint{TxID: txid, Index: uint32(j)}
				utxo[op] = wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: h, Coinbase: i == 0}
				put(appendHistoryKey(nil, &o.PKH, h, uint32(i), historyTag(DirReceived, i == 0, uint32(j))), binary.AppendUvarint(nil, o.Amount))
			}
		}
	}
	return out
}

func checkConsistent(t *testing.T, c *chain.Chain, ixs ...Index) {
	t.Helper()
	for _, ix := range ixs {
		if !ix.Ready() {
			t.Fatalf("%T not ready", ix)
		}
	}
	got, want := dump(t, c.IndexDB()), expected(t, c)
	if !maps.Equal(got, want) {
		var diff []string
		for k, v := range want {
			if got[k] != v {
				diff = append(diff, fmt.Sprintf("want %s -> %s, got %q", k, v, got[k]))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				diff = append(diff, "extra "+k)
			}
		}
		slices.Sort(diff)
		t.Fatalf("index differs from one computed from scratch (%d entries vs %d):\n%s", len(got), len(want), diff[:min(len(diff), 10)])
	}
	for _, ix := range ixs {
		key := ix.(impl).marker()
		raw, err := c.IndexDB().Get(key, nil)
		if err != nil || !bytes.Equal(raw, markerValue(c.Tip().ID)) {
			t.Fatalf("%s marker %x, want the tip %s (%v)", key, raw, c.Tip().ID, err)
		}
	}
}

func openMem(t *testing.T, p *consensus.Params, ixs ...Index) *chain.Chain {
	t.Helper()
	var list []chain.Indexer
	for _, ix := range ixs {
		list = append(list, ix)
	}
	c, err := chain.OpenMemory(chain.Config{Params: p, NoSync: true, Now: testNow, Indexers: list})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := Catchup(c, ixs...); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIndexesFollowReorg(t *testing.T) {
	bd := newBuilder(t)
	tx, addr := NewTxIndex(), NewAddrIndex()
	c := openMem(t, bd.p, tx, addr)
	db := c.IndexDB()
	checkConsistent(t, c, tx, addr) // genesis only

	bd.extend(c, 5)
	checkConsistent(t, c, tx, addr)

	// Fork at height 5:
	//
	//	... b5 - b6 (holds moved)              losing branch
	//	      \- a6 - a7                       winning branch
	//	               \- a8 (holds moved)     later
	fork := tipParent(t, c)
	moved := bd.pay()
	b6 := bd.block(c, fork, moved)
	checkConsistent(t, c, tx, addr)
	blk, pos, ok, err := tx.Lookup(db, moved.TxID())
	if err != nil || !ok || blk != b6.BlockID() || pos != 1 {
		t.Fatalf("lookup on b6: %s %d %v %v", blk, pos, ok, err)
	}
	refs, _, err := addr.TxIDs(db, other, 6, 6, nil, 10)
	if err != nil || len(refs) != 1 || refs[0].TxID != moved.TxID() {
		t.Fatalf("history at 6 before reorg: %v %v", refs, err)
	}

	a6 := bd.g.Block(fork, nil, func(b *wire.Block) { b.Header.Time++ })
	if _, err := c.ProcessBlock(a6); err != nil {
		t.Fatal(err)
	}
	a7 := bd.g.Block(testgen.ParentOf(a6, 6), nil)
	if _, err := c.ProcessBlock(a7); err != nil {
		t.Fatal(err)
	}
	if c.Tip().ID != a7.BlockID() {
		t.Fatal("no reorg to a7")
	}
	checkConsistent(t, c, tx, addr)
	if _, _, ok, _ := tx.Lookup(db, moved.TxID()); ok {
		t.Fatal("tx of the losing branch still indexed")
	}
	if refs, _, _ := addr.TxIDs(db, other, 6, 100, nil, 10); len(refs) != 0 {
		t.Fatalf("history after reorg: %v", refs)
	}
	// The coin moved spent is unspent again.
	utxos, _, err := addr.UTXOs(db, bd.g.PKH, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(utxos, func(u UTXO) bool { return u.OutPoint == moved.Inputs[0].Prev }) {
		t.Fatal("coin spent on the losing branch is not unspent again")
	}

	a8 := bd.block(c, testgen.ParentOf(a7, 7), moved)
	checkConsistent(t, c, tx, addr)
	blk, pos, ok, _ = tx.Lookup(db, moved.TxID())
	if !ok || blk != a8.BlockID() || pos != 1 {
		t.Fatalf("lookup on a8: %s %d %v", blk, pos, ok)
	}
	refs, _, _ = addr.TxIDs(db, other, 0, ^uint64(0), nil, 100)
	if len(refs) != 11 || refs[10] != (TxRef{TxID: moved.TxID(), Height: 8, Received: 5000}) {
		t.Fatalf("history of other: %d entries, last %v", len(refs), refs[len(refs)-1])
	}
	bal, err := addr.Balance(db, other)
	if err != nil || bal.Balance != 11*5000 || bal.Received != 11*5000 || bal.UTXOs != 11 {
		t.Fatalf("balance of other: %+v %v", bal, err)
	}
}

func TestIndexQueriesBounds(t *testing.T) {
	bd := newBuilder(t)
	tx, addr := NewTxIndex(), NewAddrIndex()
	c := openMem(t, bd.p, tx, addr)
	bd.extend(c, 4)
	db := c.IndexDB()
	all, more, err := addr.TxIDs(db, other, 0, ^uint64(0), nil, 100)
	if err != nil || more || len(all) != 8 {
		t.Fatalf("all: %d %v %v", len(all), more, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Height < all[i-1].Height {
			t.Fatal("history not ordered by height")
		}
		if all[i].Height == all[i-1].Height && bytes.Compare(all[i].TxID[:], all[i-1].TxID[:]) <= 0 {
			t.Fatal("history not ordered by txid within a height")
		}
	}
	some, more, _ := addr.TxIDs(db, other, 0, ^uint64(0), nil, 3)
	if !more || len(some) != 3 || some[2] != all[2] {
		t.Fatalf("limited: %v %v", some, more)
	}
	mid, _, _ := addr.TxIDs(db, other, 2, 3, nil, 100)
	if len(mid) != 4 || mid[0].Height != 2 || mid[3].Height != 3 {
		t.Fatalf("range 2..3: %v", mid)
	}
	if r, _, _ := addr.TxIDs(db, other, 5, 4, nil, 100); r != nil {
		t.Fatal("empty range returned entries")
	}
	// The generator's history: genesis allocation, then each block's txs
	// (each tx counted once even with several entries).
	gen, _, _ := addr.TxIDs(db, bd.g.PKH, 0, ^uint64(0), nil, 1000)
	if len(gen) != 1+4*4 {
		t.Fatalf("generator history: %d", len(gen))
	}
	u, more, _ := addr.UTXOs(db, bd.g.PKH, nil, 2)
	if len(u) != 2 || !more {
		t.Fatalf("utxos limited: %v %v", u, more)
	}
	// Paging with cursors gives every entry exactly once, in order, for
	// every page size.
	allUTXOs, _, _ := addr.UTXOs(db, bd.g.PKH, nil, 1000)
	for limit := 1; limit <= 5; limit++ {
		var got []UTXO
		var after *wire.OutPoint
		for {
			page, more, err := addr.UTXOs(db, bd.g.PKH, after, limit)
			if err != nil || len(page) > limit {
				t.Fatalf("utxo page: %d entries, %v", len(page), err)
			}
			got = append(got, page...)
			if !more {
				break
			}
			after = &page[len(page)-1].OutPoint
		}
		if !slices.Equal(got, allUTXOs) {
			t.Fatalf("utxos paged by %d: %d entries, want %d", limit, len(got), len(allUTXOs))
		}
		var refs []TxRef
		var afterRef *TxRef
		for {
			page, more, err := addr.TxIDs(db, bd.g.PKH, 0, ^uint64(0), afterRef, limit)
			if err != nil || len(page) > limit {
				t.Fatalf("history page: %d entries, %v", len(page), err)
			}
			refs = append(refs, page...)
			if !more {
				break
			}
			afterRef = &page[len(page)-1]
		}
		if !slices.Equal(refs, gen) {
			t.Fatalf("history paged by %d: %d entries, want %d", limit, len(refs), len(gen))
		}
	}
	if _, _, ok, err := tx.Lookup(db, wire.Hash{1}); ok || err != nil {
		t.Fatal("unknown txid found")
	}
	gid := bd.p.Genesis.Txs[0].TxID()
	if blk, pos, ok, _ := tx.Lookup(db, gid); !ok || blk != bd.p.GenesisID || pos != 0 {
		t.Fatal("genesis coinbase not indexed")
	}
}

// TestIndexesCatchupAcrossReopen runs one on-disk chain through: no index,
// then both indexes (full build), then no index again while the chain
// grows (incremental catch-up), then a reorganization below the index's
// last block while it is off (full rebuild).
func TestIndexesCatchupAcrossReopen(t *testing.T) {
	bd := newBuilder(t)
	dir := t.TempDir()
	open := func(ixs ...Index) *chain.Chain {
		t.Helper()
		var list []chain.Indexer
		for _, ix := range ixs {
			list = append(list, ix)
		}
		c, err := chain.Open(dir, chain.Config{Params: bd.p, NoSync: true, Now: testNow, Indexers: list, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open()
	bd.extend(c, 4)
	c.Close()

	tx, addr := NewTxIndex(), NewAddrIndex()
	c = open(tx, addr)
	if tx.Ready() || addr.Ready() {
		t.Fatal("ready before catch-up")
	}
	if err := Catchup(c, tx, addr); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, tx, addr)
	bd.extend(c, 2)
	checkConsistent(t, c, tx, addr)
	c.Close()

	// Reopen with the index: nothing to do.
	tx, addr = NewTxIndex(), NewAddrIndex()
	c = open(tx, addr)
	if err := Catchup(c, tx, addr); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, tx, addr)
	c.Close()

	// Off while the chain grows: catch up from the marker.
	c = open()
	bd.extend(c, 3)
	c.Close()
	tx, addr = NewTxIndex(), NewAddrIndex()
	c = open(tx, addr)
	if err := Catchup(c, tx, addr); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, tx, addr)
	markerHeight := c.Tip().Height
	c.Close()

	// Off while the chain reorganizes below the marker: rebuild.
	c = open()
	forkID, _ := c.IDAt(markerHeight - 2)
	fb, err := c.Block(forkID)
	if err != nil {
		t.Fatal(err)
	}
	parent := testgen.ParentOf(fb, markerHeight-2)
	for i := 0; i < 4; i++ {
		b := bd.g.Block(parent, nil, func(b *wire.Block) { b.Header.Time += 7 })
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		parent = testgen.ParentOf(b, parent.Height+1)
	}
	if c.Tip().Height != markerHeight+2 {
		t.Fatal("no reorg")
	}
	c.Close()
	tx, addr = NewTxIndex(), NewAddrIndex()
	c = open(tx, addr)
	defer c.Close()
	if err := Catchup(c, tx, addr); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, tx, addr)
}

// TestLayoutExample checks the package doc's worked example byte for byte,
// through ConnectBlock and DisconnectBlock.
func TestLayoutExample(t *testing.T) {
	fill := func(b []byte, v byte) {
		for i := range b {
			b[i] = v
		}
	}
	var blockID, c0 wire.Hash
	var p1, p2 [20]byte
	fill(c0[:], 0xc0)
	fill(p1[:], 0x11)
	fill(p2[:], 0x22)
	blk := &wire.Block{Txs: []*wire.Tx{
		{Version: 1, Extra: []byte{5}},
		{Version: 1, Inputs: []wire.TxIn{{Prev: wire.OutPoint{TxID: c0}}},
			Outputs: []wire.TxOut{{Amount: 1000, PKH: p2}, {Amount: 1900, PKH: p1}}},
	}}
	// The example's block and transaction ids stand for real ones.
	fill(blockID[:], 0xbb)
	txids := []wire.Hash{blk.Txs[0].TxID(), {}}
	fill(txids[1][:], 0x77)
	spent := []wire.Coin{{Amount: 3000, PKH: p1, Height: 2}}

	h := hex.EncodeToString
	p1h, p2h, th, c0h := h(p1[:]), h(p2[:]), h(txids[1][:]), h(c0[:])
	want := map[string]string{
		"79" + "00000005":                     h(blockID[:]),
		"78" + h(txids[0][:]):                 "0500",
		"78" + th:                             "0501",
		"6a" + "00000005" + "00000000":        h(txids[0][:]) + th,
		"61" + p1h + "00000005" + "01" + "01": "b817" + c0h + "00",
		"61" + p2h + "00000005" + "01" + "00": "e807",
		"61" + p1h + "00000005" + "01" + "04": "ec0e",
	}
	got := make(map[string]string)
	batch := new(leveldb.Batch)
	tx, addr := NewTxIndex(), NewAddrIndex()
	tx.put(batch, blockID, txids, 5)
	addr.apply(batch, blk, txids, 5, spent, false)
	batch.Replay(replayFunc{put: func(k, v []byte) { got[h(k)] = h(v) }})
	if !maps.Equal(got, want) {
		t.Fatalf("connect wrote\n%v\nwant\n%v", got, want)
	}
	// Disconnecting deletes every key connecting put, and only those.
	batch.Reset()
	tx.DisconnectBlock(batch, blk, txids, 5, spent)
	addr.DisconnectBlock(batch, blk, txids, 5, spent)
	batch.Replay(replayFunc{del: func(k []byte) {
		if _, ok := got[h(k)]; !ok {
			t.Errorf("disconnect deletes %s, never put", h(k))
		}
		delete(got, h(k))
	}})
	if len(got) != 0 {
		t.Fatalf("disconnect left %v", got)
	}
}

// replayFunc is a leveldb.BatchReplay of two functions.
type replayFunc struct {
	put func(k, v []byte)
	del func(k []byte)
}

func (r replayFunc) Put(k, v []byte) {
	if r.put != nil {
		r.put(k, v)
	}
}

func (r replayFunc) Delete(k []byte) {
	if r.del != nil {
		r.del(k)
	}
}

// TestNoMarkerBeforeCatchup: blocks connected before Catchup (recovery at
// Open, or a caller that forgot) write entries but no marker, so the index
// never claims to be complete when it is not.
func TestNoMarkerBeforeCatchup(t *testing.T) {
	bd := newBuilder(t)
	tx, addr := NewTxIndex(), NewAddrIndex()
	c, err := chain.OpenMemory(chain.Config{Params: bd.p, NoSync: true, Now: testNow, Indexers: []chain.Indexer{tx, addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bd.extend(c, 2)
	for _, key := range [][]byte{keyTxMarker, keyAddrMarker} {
		if _, err := c.IndexDB().Get(key, nil); err == nil {
			t.Fatalf("marker %s written before Catchup", key)
		}
	}
	if tx.Ready() || addr.Ready() {
		t.Fatal("ready before Catchup")
	}
	if err := Catchup(c, tx, addr); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, c, tx, addr)
	bd.extend(c, 1)
	checkConsistent(t, c, tx, addr)
}

// TestIndexLogLostInCrash: the index entries the chain holds in memory
// (written with the next UTXO flush, or when a query reads) are lost in a
// crash together with the UTXO cache; recovery connects those blocks
// again and the index comes out the same as one built from scratch. The
// crash lands after a query wrote part of the log and a reorganization
// put deletes in what was left of it, and nothing but the index log and
// the UTXO cache is lost: the database is closed under the chain without
// the chain's Close.
func TestIndexLogLostInCrash(t *testing.T) {
	bd := newBuilder(t)
	ms := storage.NewMemStorage()
	fs := blockfile.NewMemFS()
	open := func(ixs ...Index) (*chain.Chain, *leveldb.DB) {
		t.Helper()
		db, err := leveldb.Open(ms, nil)
		if err != nil {
			t.Fatal(err)
		}
		var list []chain.Indexer
		for _, ix := range ixs {
			list = append(list, ix)
		}
		c, err := chain.New(db, chain.Config{Params: bd.p, NoSync: true, Now: testNow, Indexers: list,
			CacheBytes: 64 << 20, BlockFS: fs, BlocksDir: "/blocks"})
		if err != nil {
			t.Fatal(err)
		}
		if err := Catchup(c, ixs...); err != nil {
			t.Fatal(err)
		}
		return c, db
	}
	tx, addr := NewTxIndex(), NewAddrIndex()
	c, db := open(tx, addr)
	bd.extend(c, 4)
	if err := c.Flush(); err != nil { // the stored UTXO set at height 4
		t.Fatal(err)
	}
	bd.extend(c, 2)
	fork := tipParent(t, c)
	moved := bd.pay()
	bd.block(c, fork, moved)
	// A query writes the log so far: blocks 5 to 7 are on disk, the
	// UTXO set is not.
	if _, _, ok, err := tx.Lookup(c.IndexDB(), moved.TxID()); err != nil || !ok {
		t.Fatalf("lookup before the crash: %v %v", ok, err)
	}
	if raw, err := db.Get(keyTxMarker, nil); err != nil || !bytes.Equal(raw, markerValue(c.Tip().ID)) {
		t.Fatalf("the query did not write the log: marker %x %v", raw, err)
	}
	// A heavier branch from height 6 disconnects block 7 (deletes in the
	// log) and connects two more.
	a7 := bd.g.Block(fork, nil, func(b *wire.Block) { b.Header.Time++ })
	if _, err := c.ProcessBlock(a7); err != nil {
		t.Fatal(err)
	}
	a8 := bd.block(c, testgen.ParentOf(a7, 7))
	if c.Tip().ID != a8.BlockID() {
		t.Fatal("no reorg")
	}
	if raw, _ := db.Get(keyTxMarker, nil); bytes.Equal(raw, markerValue(a8.BlockID())) {
		t.Fatal("the log was written with the blocks: nothing to lose in the crash")
	}
	if err := db.Close(); err != nil { // the crash
		t.Fatal(err)
	}

	tx, addr = NewTxIndex(), NewAddrIndex()
	c, _ = open(tx, addr)
	defer c.Close()
	if c.Tip().ID != a8.BlockID() {
		t.Fatalf("recovered to %s, want %s", c.Tip().ID, a8.BlockID())
	}
	checkConsistent(t, c, tx, addr)
	if _, _, ok, _ := tx.Lookup(c.IndexDB(), moved.TxID()); ok {
		t.Fatal("a transaction of the branch the reorg left is still indexed")
	}
}

// TestIndexDBSeesConnectedBlocks: a query through Chain.IndexDB made after
// a block connected finds that block's transactions, while other queries
// and the connects run concurrently (run with -race).
func TestIndexDBSeesConnectedBlocks(t *testing.T) {
	bd := newBuilder(t)
	tx, addr := NewTxIndex(), NewAddrIndex()
	c := openMem(t, bd.p, tx, addr)
	db := c.IndexDB()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // background readers
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := addr.Balance(db, other); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	connected := make(chan []wire.Hash)
	go func() {
		defer close(connected)
		for i := 0; i < 20; i++ {
			a := bd.pay()
			b := bd.block(c, tipParent(t, c), a, bd.chainTx(a))
			connected <- b.TxIDs()
		}
	}()
	for ids := range connected {
		for _, id := range ids {
			if _, _, ok, err := tx.Lookup(db, id); err != nil || !ok {
				t.Fatalf("transaction %s of a connected block not found: %v", id, err)
			}
		}
	}
	close(done)
	wg.Wait()
	checkConsistent(t, c, tx, addr)
}
