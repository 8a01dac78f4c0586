package indexes

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/wire"
)

const (
	prefixHistory = 'a'
	prefixTxID    = 'j'
	// prefixUnspent held layout 1's unspent entries; a rebuild wipes them.
	prefixUnspent = 'i'
	// historyKeyFixed is the fixed part of a history key: prefix | pkh |
	// height u32; the position (appendPos) and a uvarint tag follow.
	historyKeyFixed   = 1 + 20 + 4
	maxHistoryKeySize = historyKeyFixed + 5 + binary.MaxVarintLen64
	// maxHistoryValueSize bounds a history value: amount, previous
	// outpoint.
	maxHistoryValueSize = binary.MaxVarintLen64 + wire.HashSize + binary.MaxVarintLen32
	txIDKeySize         = 1 + 4 + 4
	// txidsPerEntry is how many txids of a block one "j" entry holds:
	// fewer entries to write than one per transaction, and a small read
	// (2 KiB) to name one.
	txidsPerEntry = 64
)

var keyAddrMarker = []byte("I")

// Directions of a history entry.
const (
	DirReceived = 0 // an output paid the address
	DirSpent    = 1 // an input spent a coin of the address
)

// AddrIndex keeps, per public key hash, the history of best-chain
// transactions that paid or spent it ("a" keys); its unspent outputs are
// those received and not spent. Safe for concurrent use.
type AddrIndex struct{ state }

// NewAddrIndex returns an address index; list it in
// chain.Config.Indexers and call Catchup after Open.
func NewAddrIndex() *AddrIndex { return &AddrIndex{} }

// historyTag packs an entry's direction, its coinbase flag (received
// entries of a coinbase output) and its output or input index.
func historyTag(dir byte, coinbase bool, n uint32) uint64 {
	t := uint64(n)<<2 | uint64(dir)
	if coinbase {
		t |= 2
	}
	return t
}

// appendHistoryKey appends "a" | pkh | height u32 | position | uvarint
// tag.
func appendHistoryKey(b []byte, pkh *[20]byte, height uint64, pos uint32, tag uint64) []byte {
	b = append(append(b, prefixHistory), pkh[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(height))
	b = appendPos(b, pos)
	return binary.AppendUvarint(b, tag)
}

// appendPos appends a transaction's position in its block in as few
// bytes as an uvarint, but so that encodings sort as the numbers do (a
// uvarint puts the low bits first): below 2^7 one byte 0ppppppp, below
// 2^14 two bytes 10pppppp pppppppp, below 2^21 three bytes 110ppppp ...,
// else 0xe0 then the u32, big-endian. An address's entries then come in
// block order, and naming them reads each "j" entry once.
func appendPos(b []byte, pos uint32) []byte {
	switch {
	case pos < 1<<7:
		return append(b, byte(pos))
	case pos < 1<<14:
		return append(b, 0x80|byte(pos>>8), byte(pos))
	case pos < 1<<21:
		return append(b, 0xc0|byte(pos>>16), byte(pos>>8), byte(pos))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xe0), pos)
}

// decodePos reads what appendPos wrote, refusing any other encoding of
// the same number (one key per entry).
func decodePos(b []byte) (pos uint32, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c < 0x80:
		return uint32(c), 1, true
	case c < 0xc0 && len(b) >= 2:
		pos = uint32(c&0x3f)<<8 | uint32(b[1])
		return pos, 2, pos >= 1<<7
	case c < 0xe0 && len(b) >= 3:
		pos = uint32(c&0x1f)<<16 | uint32(b[1])<<8 | uint32(b[2])
		return pos, 3, pos >= 1<<14
	case c == 0xe0 && len(b) >= 5:
		pos = binary.BigEndian.Uint32(b[1:])
		return pos, 5, pos >= 1<<21
	}
	return 0, 0, false
}

// historyStart returns "a" | pkh | height u32, the start of the entries
// at height.
func historyStart(pkh [20]byte, height uint64) []byte {
	return binary.BigEndian.AppendUint32(append([]byte{prefixHistory}, pkh[:]...), uint32(height))
}

// appendTxIDKey appends "j" | height u32 | chunk u32: the key of the
// txids of the transactions at positions chunk*txidsPerEntry and on in
// the best-chain block at height.
func appendTxIDKey(b []byte, height uint64, chunk uint32) []byte {
	b = binary.BigEndian.AppendUint32(append(b, prefixTxID), uint32(height))
	return binary.BigEndian.AppendUint32(b, chunk)
}

// putTxIDs puts (or, with del, deletes) the "j" entries of a block.
func putTxIDs(batch *leveldb.Batch, key []byte, txids []wire.Hash, height uint64, del bool) {
	val := make([]byte, 0, txidsPerEntry*wire.HashSize)
	for c := 0; c*txidsPerEntry < len(txids); c++ {
		key = appendTxIDKey(key[:0], height, uint32(c))
		if del {
			batch.Delete(key)
			continue
		}
		val = val[:0]
		for _, id := range txids[c*txidsPerEntry : min(len(txids), (c+1)*txidsPerEntry)] {
			val = append(val, id[:]...)
		}
		batch.Put(key, val)
	}
}

// historyEntry is one decoded history entry.
type historyEntry struct {
	height   uint64
	pos      uint32 // of the transaction in its block
	dir      byte
	coinbase bool
	n        uint32
	amount   uint64
	prev     wire.OutPoint // the coin spent, for DirSpent
}

// decodeHistory decodes a history entry, checking every field.
func decodeHistory(k, v []byte) (historyEntry, error) {
	var e historyEntry
	bad := func(what string) (historyEntry, error) {
		return historyEntry{}, fmt.Errorf("%w: addrindex history %s (key %x, value %x)", ErrCorrupt, what, k, v)
	}
	if len(k) <= historyKeyFixed || k[0] != prefixHistory {
		return bad("key")
	}
	e.height = uint64(binary.BigEndian.Uint32(k[21:]))
	pos, n, ok := decodePos(k[historyKeyFixed:])
	if !ok {
		return bad("key")
	}
	tag, m := binary.Uvarint(k[historyKeyFixed+n:])
	if m <= 0 || historyKeyFixed+n+m != len(k) || tag>>2 > 1<<32-1 {
		return bad("key")
	}
	e.pos, e.dir, e.coinbase, e.n = pos, byte(tag&1), tag&2 != 0, uint32(tag>>2)
	if e.dir == DirSpent && e.coinbase {
		return bad("key")
	}
	amount, m := binary.Uvarint(v)
	if m <= 0 {
		return bad("value")
	}
	e.amount, v = amount, v[m:]
	if e.dir == DirSpent {
		if len(v) <= wire.HashSize {
			return bad("value")
		}
		copy(e.prev.TxID[:], v)
		idx, m := binary.Uvarint(v[wire.HashSize:])
		if m <= 0 || idx > 1<<32-1 {
			return bad("value")
		}
		e.prev.Index, v = uint32(idx), v[wire.HashSize+m:]
	}
	if len(v) != 0 {
		return bad("value")
	}
	return e, nil
}

// txidReader names transactions by (height, position) from the "j"
// entries, keeping the last entry read: a history comes in block order,
// so one read serves up to 64 of its transactions.
type txidReader struct {
	db     Reader
	height uint64
	chunk  uint32
	v      []byte
}

// at returns the txid of the transaction at pos in the block at height.
func (r *txidReader) at(height uint64, pos uint32) (wire.Hash, error) {
	var id wire.Hash
	chunk := pos / txidsPerEntry
	if r.v == nil || r.height != height || r.chunk != chunk {
		v, err := r.db.Get(appendTxIDKey(make([]byte, 0, txIDKeySize), height, chunk), nil)
		if errors.Is(err, leveldb.ErrNotFound) {
			return id, fmt.Errorf("%w: addrindex has no txid at height %d position %d", ErrCorrupt, height, pos)
		}
		if err != nil {
			return id, fmt.Errorf("addrindex: %w", err)
		}
		if len(v)%wire.HashSize != 0 || len(v) > txidsPerEntry*wire.HashSize || len(v) == 0 {
			return id, fmt.Errorf("%w: addrindex txid entry of %d bytes for height %d position %d", ErrCorrupt, len(v), height, pos)
		}
		r.height, r.chunk, r.v = height, chunk, v
	}
	i := int(pos % txidsPerEntry)
	if len(r.v) < (i+1)*wire.HashSize {
		return id, fmt.Errorf("%w: addrindex txid entry of %d bytes for height %d position %d", ErrCorrupt, len(r.v), height, pos)
	}
	copy(id[:], r.v[i*wire.HashSize:])
	return id, nil
}

// ConnectBlock implements chain.Indexer.
func (ix *AddrIndex) ConnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	ix.apply(batch, b, txids, height, spent, false)
	ix.putMarker(batch, keyAddrMarker, b.BlockID())
}

// DisconnectBlock implements chain.Indexer: it deletes every entry
// ConnectBlock put.
func (ix *AddrIndex) DisconnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	ix.apply(batch, b, txids, height, spent, true)
	ix.putMarker(batch, keyAddrMarker, b.Header.PrevBlock)
}

// apply puts (or, with del, deletes) the block's entries: its txids by
// position; per input, a spend of the coin it spent (spent[k], in input
// order) under the coin's owner, with the coin's amount and outpoint; per
// output, a receipt under its owner with its amount. The batch copies
// keys and values, so two scratch buffers serve every entry.
func (ix *AddrIndex) apply(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin, del bool) {
	key := make([]byte, 0, maxHistoryKeySize)
	val := make([]byte, 0, maxHistoryValueSize)
	putTxIDs(batch, key, txids, height, del)
	k := 0
	for i, tx := range b.Txs {
		pos := uint32(i)
		for j := range tx.Inputs {
			if i == 0 || k >= len(spent) {
				break
			}
			c := &spent[k]
			k++
			key = appendHistoryKey(key[:0], &c.PKH, height, pos, historyTag(DirSpent, false, uint32(j)))
			if del {
				batch.Delete(key)
				continue
			}
			prev := &tx.Inputs[j].Prev
			val = binary.AppendUvarint(val[:0], c.Amount)
			val = binary.AppendUvarint(append(val, prev.TxID[:]...), uint64(prev.Index))
			batch.Put(key, val)
		}
		for j := range tx.Outputs {
			o := &tx.Outputs[j]
			key = appendHistoryKey(key[:0], &o.PKH, height, pos, historyTag(DirReceived, i == 0, uint32(j)))
			if del {
				batch.Delete(key)
				continue
			}
			batch.Put(key, binary.AppendUvarint(val[:0], o.Amount))
		}
	}
}

// Catchup implements Index.
func (ix *AddrIndex) Catchup(c Chain) error { return catchup(c, ix, &ix.state) }

func (ix *AddrIndex) name() string   { return "addrindex" }
func (ix *AddrIndex) marker() []byte { return keyAddrMarker }
func (ix *AddrIndex) prefixes() [][]byte {
	return [][]byte{{prefixHistory}, {prefixTxID}, {prefixUnspent}}
}

// rebuildBlock reads the coins the block spent from the chain's undo data
// (the genesis block spends none).
func (ix *AddrIndex) rebuildBlock(c Chain, batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64) error {
	var spent []wire.Coin
	if height > 0 {
		var err error
		if spent, err = c.SpentCoins(b.BlockID()); err != nil {
			return err
		}
	}
	ix.apply(batch, b, txids, height, spent, false)
	return nil
}

// scan calls fn with every history entry of pkh, in key order.
func scan(db Reader, pkh [20]byte, fn func(e historyEntry)) error {
	it := db.NewIterator(util.BytesPrefix(append([]byte{prefixHistory}, pkh[:]...)), nil)
	defer it.Release()
	for it.Next() {
		e, err := decodeHistory(it.Key(), it.Value())
		if err != nil {
			return err
		}
		fn(e)
	}
	return it.Error()
}

// Balance is what an address holds and has received on the best chain.
type Balance struct {
	Balance  uint64 // sum of unspent outputs
	Received uint64 // sum of every output ever paid to it
	UTXOs    int    // number of unspent outputs
}

// Balance sums what pkh received and what it spent: each spend entry is a
// coin of pkh, received in an earlier entry.
func (ix *AddrIndex) Balance(db Reader, pkh [20]byte) (Balance, error) {
	var (
		received, spent uint64
		nrecv, nspent   int
	)
	err := scan(db, pkh, func(e historyEntry) {
		if e.dir == DirReceived {
			received += e.amount
			nrecv++
		} else {
			spent += e.amount
			nspent++
		}
	})
	if err != nil {
		return Balance{}, err
	}
	if spent > received || nspent > nrecv {
		return Balance{}, fmt.Errorf("%w: addrindex history of %x spends more than it received", ErrCorrupt, pkh)
	}
	return Balance{Balance: received - spent, Received: received, UTXOs: nrecv - nspent}, nil
}

// UTXO is an unspent output of an address.
type UTXO struct {
	OutPoint wire.OutPoint
	Amount   uint64
	Height   uint64
	Coinbase bool
}

// UTXOs returns up to limit unspent outputs of pkh in (txid, index)
// order, starting after the outpoint after (nil: from the first); more is
// true when there are others. The last outpoint returned is the cursor of
// the next page, so no address is too big to list. Each call reads the
// address's whole history (the outputs it received less the coins it
// spent), as Balance does.
func (ix *AddrIndex) UTXOs(db Reader, pkh [20]byte, after *wire.OutPoint, limit int) (out []UTXO, more bool, err error) {
	// Entries come in block order, so a coin's receipt comes before its
	// spend.
	unspent := make(map[wire.OutPoint]UTXO)
	var (
		last    = historyEntry{height: maxHeight + 1}
		lastID  wire.Hash
		readErr error
		names   = txidReader{db: db}
	)
	err = scan(db, pkh, func(e historyEntry) {
		if readErr != nil {
			return
		}
		if e.dir == DirSpent {
			if _, ok := unspent[e.prev]; !ok {
				readErr = fmt.Errorf("%w: addrindex history of %x spends %s:%d at height %d before receiving it", ErrCorrupt, pkh, e.prev.TxID, e.prev.Index, e.height)
				return
			}
			delete(unspent, e.prev)
			return
		}
		if e.height != last.height || e.pos != last.pos {
			if lastID, readErr = names.at(e.height, e.pos); readErr != nil {
				return
			}
			last = e
		}
		op := wire.OutPoint{TxID: lastID, Index: e.n}
		unspent[op] = UTXO{OutPoint: op, Amount: e.amount, Height: e.height, Coinbase: e.coinbase}
	})
	if err == nil {
		err = readErr
	}
	if err != nil {
		return nil, false, err
	}
	for op, u := range unspent {
		if after == nil || outPointCmp(op, *after) > 0 {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b UTXO) int { return outPointCmp(a.OutPoint, b.OutPoint) })
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// outPointCmp orders outpoints by txid bytes, then index.
func outPointCmp(a, b wire.OutPoint) int {
	if c := bytes.Compare(a.TxID[:], b.TxID[:]); c != 0 {
		return c
	}
	return int(int64(a.Index) - int64(b.Index))
}

// TxRef is a transaction in an address's history: where it is and what
// it did to the address.
type TxRef struct {
	TxID     wire.Hash
	Height   uint64
	Received uint64 // sum of its outputs paying the address
	Spent    uint64 // sum of the address's coins its inputs spend
}

// maxHeight is the highest height history keys hold (u32, as Core's
// heights).
const maxHeight = 1<<32 - 1

// TxIDs returns the transactions that paid or spent pkh in best-chain
// blocks at heights from..to (inclusive), by height then txid, at most
// limit of them, starting after the transaction after (nil: from the
// first); more is true when there are others in the range. The last
// entry's (height, txid) is the cursor of the next page.
func (ix *AddrIndex) TxIDs(db Reader, pkh [20]byte, from, to uint64, after *TxRef, limit int) (out []TxRef, more bool, err error) {
	if from > to || from > maxHeight {
		return nil, false, nil
	}
	if after != nil && after.Height < from {
		after = nil
	}
	start := historyStart(pkh, from)
	if after != nil {
		if after.Height > maxHeight {
			return nil, false, nil
		}
		start = historyStart(pkh, after.Height) // the entries after after's are picked below
	}
	var limitKey []byte
	if to < maxHeight {
		limitKey = historyStart(pkh, to+1)
	} else {
		limitKey = util.BytesPrefix(append([]byte{prefixHistory}, pkh[:]...)).Limit
	}
	// Entries come in block order; a height's transactions are gathered,
	// named, sorted by txid and added to out.
	var (
		group []TxRef
		gpos  []uint32
		names = txidReader{db: db}
	)
	flush := func() (full bool, err error) {
		for i := range group {
			if group[i].TxID, err = names.at(group[i].Height, gpos[i]); err != nil {
				return false, err
			}
		}
		slices.SortFunc(group, func(a, b TxRef) int { return bytes.Compare(a.TxID[:], b.TxID[:]) })
		for _, r := range group {
			if after != nil && r.Height == after.Height && bytes.Compare(r.TxID[:], after.TxID[:]) <= 0 {
				continue
			}
			if len(out) >= limit {
				return true, nil
			}
			out = append(out, r)
		}
		group, gpos = group[:0], gpos[:0]
		return false, nil
	}
	it := db.NewIterator(&util.Range{Start: start, Limit: limitKey}, nil)
	defer it.Release()
	for it.Next() {
		e, err := decodeHistory(it.Key(), it.Value())
		if err != nil {
			return nil, false, err
		}
		n := len(group)
		if n > 0 && group[n-1].Height != e.height {
			if full, err := flush(); err != nil {
				return nil, false, err
			} else if full {
				return out, true, nil
			}
			n = 0
		}
		if n == 0 || gpos[n-1] != e.pos {
			group, gpos = append(group, TxRef{Height: e.height}), append(gpos, e.pos)
			n++
		}
		if e.dir == DirReceived {
			group[n-1].Received += e.amount
		} else {
			group[n-1].Spent += e.amount
		}
	}
	if err := it.Error(); err != nil {
		return nil, false, err
	}
	full, err := flush()
	if err != nil {
		return nil, false, err
	}
	return out, full, nil
}
