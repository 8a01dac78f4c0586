package indexes

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/wire"
)

const (
	prefixHistory = 'a'
	// prefixUnspent held layout 1's unspent entries; a rebuild wipes them.
	prefixUnspent = 'i'
	// historyKeyFixed is the fixed part of a history key: prefix | pkh |
	// height u32 | txid; a uvarint tag follows.
	historyKeyFixed = 1 + 20 + 4 + wire.HashSize
	// maxHistoryValueSize bounds a history value: amount, previous
	// outpoint.
	maxHistoryValueSize = binary.MaxVarintLen64 + wire.HashSize + binary.MaxVarintLen32
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

// appendHistoryKey appends "a" | pkh | height u32 | txid | uvarint tag.
func appendHistoryKey(b []byte, pkh *[20]byte, height uint64, txid *wire.Hash, tag uint64) []byte {
	b = append(append(b, prefixHistory), pkh[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(height))
	b = append(b, txid[:]...)
	return binary.AppendUvarint(b, tag)
}

// historyPrefix returns "a" | pkh | height u32 | txid, cut after the
// first n bytes.
func historyPrefix(pkh [20]byte, height uint64, txid wire.Hash, n int) []byte {
	return appendHistoryKey(make([]byte, 0, historyKeyFixed+binary.MaxVarintLen64), &pkh, height, &txid, 0)[:n]
}

// historyEntry is one decoded history entry.
type historyEntry struct {
	height   uint64
	txid     wire.Hash
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
	copy(e.txid[:], k[25:historyKeyFixed])
	tag, n := binary.Uvarint(k[historyKeyFixed:])
	if n <= 0 || historyKeyFixed+n != len(k) || tag>>2 > 1<<32-1 {
		return bad("key")
	}
	e.dir, e.coinbase, e.n = byte(tag&1), tag&2 != 0, uint32(tag>>2)
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

// apply puts (or, with del, deletes) the block's entries: per input, a
// spend of the coin it spent (spent[k], in input order) under the coin's
// owner, with the coin's amount and outpoint; per output, a receipt under
// its owner with its amount. The batch copies keys and values, so two
// scratch buffers serve every entry.
func (ix *AddrIndex) apply(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin, del bool) {
	key := make([]byte, 0, historyKeyFixed+binary.MaxVarintLen64)
	val := make([]byte, 0, maxHistoryValueSize)
	k := 0
	for i, tx := range b.Txs {
		txid := &txids[i]
		for j := range tx.Inputs {
			if i == 0 || k >= len(spent) {
				break
			}
			c := &spent[k]
			k++
			key = appendHistoryKey(key[:0], &c.PKH, height, txid, historyTag(DirSpent, false, uint32(j)))
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
			key = appendHistoryKey(key[:0], &o.PKH, height, txid, historyTag(DirReceived, i == 0, uint32(j)))
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
	return [][]byte{{prefixHistory}, {prefixUnspent}}
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
	unspent := make(map[wire.OutPoint]UTXO)
	// A spend seen before its coin: the coin's transaction sorts after
	// the spending one in the same block.
	early := make(map[wire.OutPoint]struct{})
	err = scan(db, pkh, func(e historyEntry) {
		if e.dir == DirSpent {
			if _, ok := unspent[e.prev]; ok {
				delete(unspent, e.prev)
			} else {
				early[e.prev] = struct{}{}
			}
			return
		}
		op := wire.OutPoint{TxID: e.txid, Index: e.n}
		if _, ok := early[op]; ok {
			delete(early, op)
			return
		}
		unspent[op] = UTXO{OutPoint: op, Amount: e.amount, Height: e.height, Coinbase: e.coinbase}
	})
	if err != nil {
		return nil, false, err
	}
	if len(early) != 0 {
		return nil, false, fmt.Errorf("%w: addrindex history of %x spends %d coins it never received", ErrCorrupt, pkh, len(early))
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
	start := historyPrefix(pkh, from, wire.Hash{}, 1+20+4)
	if after != nil && after.Height >= from {
		if after.Height > maxHeight {
			return nil, false, nil
		}
		// Past every entry of after: the keys after its (height, txid).
		start = util.BytesPrefix(historyPrefix(pkh, after.Height, after.TxID, historyKeyFixed)).Limit
	}
	var limitKey []byte
	if to < maxHeight {
		limitKey = historyPrefix(pkh, to+1, wire.Hash{}, 1+20+4)
	} else {
		limitKey = util.BytesPrefix(historyPrefix(pkh, 0, wire.Hash{}, 1+20)).Limit
	}
	it := db.NewIterator(&util.Range{Start: start, Limit: limitKey}, nil)
	defer it.Release()
	for it.Next() {
		e, err := decodeHistory(it.Key(), it.Value())
		if err != nil {
			return nil, false, err
		}
		n := len(out)
		if n == 0 || out[n-1].TxID != e.txid || out[n-1].Height != e.height {
			if n >= limit {
				return out, true, nil
			}
			out = append(out, TxRef{TxID: e.txid, Height: e.height})
			n++
		}
		if e.dir == DirReceived {
			out[n-1].Received += e.amount
		} else {
			out[n-1].Spent += e.amount
		}
	}
	return out, false, it.Error()
}
