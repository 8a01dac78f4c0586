package indexes

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"tally/wire"
)

const (
	prefixHistory  = 'a'
	prefixUnspent  = 'i'
	historyKeySize = 1 + 20 + 8 + wire.HashSize + 1 + 4
	unspentKeySize = 1 + 20 + wire.HashSize + 4
	unspentValSize = 8 + 8 + 1
)

var keyAddrMarker = []byte("I")

// Directions of a history entry.
const (
	DirReceived = 0 // an output paid the address
	DirSpent    = 1 // an input spent a coin of the address
)

// AddrIndex keeps, per public key hash, the history of best-chain
// transactions that paid or spent it ("a" keys) and its unspent outputs
// ("i" keys). Safe for concurrent use.
type AddrIndex struct{ state }

// NewAddrIndex returns an address index; list it in
// chain.Config.Indexers and call Catchup after Open.
func NewAddrIndex() *AddrIndex { return &AddrIndex{} }

func historyKey(pkh [20]byte, height uint64, txid wire.Hash, dir byte, n uint32) []byte {
	k := make([]byte, historyKeySize)
	k[0] = prefixHistory
	copy(k[1:], pkh[:])
	binary.BigEndian.PutUint64(k[21:], height)
	copy(k[29:], txid[:])
	k[61] = dir
	binary.BigEndian.PutUint32(k[62:], n)
	return k
}

func unspentKey(pkh [20]byte, op wire.OutPoint) []byte {
	k := make([]byte, unspentKeySize)
	k[0] = prefixUnspent
	copy(k[1:], pkh[:])
	copy(k[21:], op.TxID[:])
	binary.BigEndian.PutUint32(k[53:], op.Index)
	return k
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func unspentValue(c wire.Coin) []byte {
	v := make([]byte, unspentValSize)
	binary.LittleEndian.PutUint64(v, c.Amount)
	binary.LittleEndian.PutUint64(v[8:], c.Height)
	if c.Coinbase {
		v[16] = 1
	}
	return v
}

func decodeUnspentValue(v []byte, pkh [20]byte) (wire.Coin, error) {
	if len(v) != unspentValSize || v[16] > 1 {
		return wire.Coin{}, fmt.Errorf("%w: addrindex unspent entry of %d bytes", ErrCorrupt, len(v))
	}
	return wire.Coin{Amount: binary.LittleEndian.Uint64(v), PKH: pkh, Height: binary.LittleEndian.Uint64(v[8:]), Coinbase: v[16] == 1}, nil
}

// ConnectBlock implements chain.Indexer.
func (ix *AddrIndex) ConnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	ix.connect(batch, b, txids, height, spent)
	ix.putMarker(batch, keyAddrMarker, b.BlockID())
}

// connect applies the block's transactions in order: each one's inputs
// (delete the spent coin, add a spend to the history) then its outputs.
func (ix *AddrIndex) connect(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	k := 0
	for i, tx := range b.Txs {
		txid := txids[i]
		for j := range tx.Inputs {
			if i == 0 || k >= len(spent) {
				break
			}
			c := spent[k]
			k++
			batch.Delete(unspentKey(c.PKH, tx.Inputs[j].Prev))
			batch.Put(historyKey(c.PKH, height, txid, DirSpent, uint32(j)), u64(c.Amount))
		}
		for j, o := range tx.Outputs {
			op := wire.OutPoint{TxID: txid, Index: uint32(j)}
			batch.Put(unspentKey(o.PKH, op), unspentValue(wire.Coin{Amount: o.Amount, Height: height, Coinbase: i == 0}))
			batch.Put(historyKey(o.PKH, height, txid, DirReceived, uint32(j)), u64(o.Amount))
		}
	}
}

// DisconnectBlock implements chain.Indexer: the transactions are
// undone in reverse, each one's outputs then its inputs.
func (ix *AddrIndex) DisconnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	k := len(spent)
	for i := len(b.Txs) - 1; i >= 0; i-- {
		tx := b.Txs[i]
		txid := txids[i]
		for j, o := range tx.Outputs {
			batch.Delete(unspentKey(o.PKH, wire.OutPoint{TxID: txid, Index: uint32(j)}))
			batch.Delete(historyKey(o.PKH, height, txid, DirReceived, uint32(j)))
		}
		if i == 0 {
			break
		}
		for j := len(tx.Inputs) - 1; j >= 0; j-- {
			if k == 0 {
				break
			}
			k--
			c := spent[k]
			batch.Put(unspentKey(c.PKH, tx.Inputs[j].Prev), unspentValue(c))
			batch.Delete(historyKey(c.PKH, height, txid, DirSpent, uint32(j)))
		}
	}
	ix.putMarker(batch, keyAddrMarker, b.Header.PrevBlock)
}

// Catchup implements Index.
func (ix *AddrIndex) Catchup(c Chain) error { return catchup(c, ix, &ix.state) }

func (ix *AddrIndex) name() string   { return "addrindex" }
func (ix *AddrIndex) marker() []byte { return keyAddrMarker }
func (ix *AddrIndex) prefixes() [][]byte {
	return [][]byte{{prefixHistory}, {prefixUnspent}}
}

// rebuildBlock finds the coins the block spends without the chain's undo
// data: an input's public key hashes to the owner of the coin it spends
// (a consensus rule), which names the coin's unspent entry, written by an
// earlier block or by an earlier transaction of this one.
func (ix *AddrIndex) rebuildBlock(db Reader, batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64) error {
	created := make(map[wire.OutPoint]wire.Coin)
	var spent []wire.Coin
	for i, tx := range b.Txs {
		if i > 0 {
			for _, in := range tx.Inputs {
				if c, ok := created[in.Prev]; ok {
					spent = append(spent, c)
					delete(created, in.Prev)
					continue
				}
				pkh := wire.Hash160(in.PubKey[:])
				v, err := db.Get(unspentKey(pkh, in.Prev), nil)
				if err != nil {
					if errors.Is(err, leveldb.ErrNotFound) {
						return fmt.Errorf("%w: block %s spends %s:%d, which the address index does not hold", ErrCorrupt, b.BlockID(), in.Prev.TxID, in.Prev.Index)
					}
					return err
				}
				c, err := decodeUnspentValue(v, pkh)
				if err != nil {
					return err
				}
				spent = append(spent, c)
			}
		}
		for j, o := range tx.Outputs {
			created[wire.OutPoint{TxID: txids[i], Index: uint32(j)}] = wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: height, Coinbase: i == 0}
		}
	}
	ix.connect(batch, b, txids, height, spent)
	return nil
}

// Balance is what an address holds and has received on the best chain.
type Balance struct {
	Balance  uint64 // sum of unspent outputs
	Received uint64 // sum of every output ever paid to it
	UTXOs    int    // number of unspent outputs
}

// Balance sums pkh's unspent outputs and everything it received.
func (ix *AddrIndex) Balance(db Reader, pkh [20]byte) (Balance, error) {
	var bal Balance
	it := db.NewIterator(util.BytesPrefix(append([]byte{prefixUnspent}, pkh[:]...)), nil)
	for it.Next() {
		c, err := decodeUnspentValue(it.Value(), pkh)
		if err != nil {
			it.Release()
			return bal, err
		}
		bal.Balance += c.Amount
		bal.UTXOs++
	}
	it.Release()
	if err := it.Error(); err != nil {
		return bal, err
	}
	it = db.NewIterator(util.BytesPrefix(append([]byte{prefixHistory}, pkh[:]...)), nil)
	defer it.Release()
	for it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != historyKeySize || len(v) != 8 {
			return bal, fmt.Errorf("%w: addrindex history entry", ErrCorrupt)
		}
		if k[61] == DirReceived {
			bal.Received += binary.LittleEndian.Uint64(v)
		}
	}
	return bal, it.Error()
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
// the next page, so no address is too big to list.
func (ix *AddrIndex) UTXOs(db Reader, pkh [20]byte, after *wire.OutPoint, limit int) (out []UTXO, more bool, err error) {
	r := util.BytesPrefix(append([]byte{prefixUnspent}, pkh[:]...))
	if after != nil {
		// The smallest key above after's.
		r.Start = append(unspentKey(pkh, *after), 0)
	}
	it := db.NewIterator(r, nil)
	defer it.Release()
	for it.Next() {
		if len(out) >= limit {
			return out, true, nil
		}
		k := it.Key()
		if len(k) != unspentKeySize {
			return nil, false, fmt.Errorf("%w: addrindex unspent key of %d bytes", ErrCorrupt, len(k))
		}
		c, err := decodeUnspentValue(it.Value(), pkh)
		if err != nil {
			return nil, false, err
		}
		u := UTXO{Amount: c.Amount, Height: c.Height, Coinbase: c.Coinbase}
		copy(u.OutPoint.TxID[:], k[21:53])
		u.OutPoint.Index = binary.BigEndian.Uint32(k[53:])
		out = append(out, u)
	}
	return out, false, it.Error()
}

// TxRef is a transaction in an address's history: where it is and what
// it did to the address.
type TxRef struct {
	TxID     wire.Hash
	Height   uint64
	Received uint64 // sum of its outputs paying the address
	Spent    uint64 // sum of the address's coins its inputs spend
}

// TxIDs returns the transactions that paid or spent pkh in best-chain
// blocks at heights from..to (inclusive), by height then txid, at most
// limit of them, starting after the transaction after (nil: from the
// first); more is true when there are others in the range. The last
// entry's (height, txid) is the cursor of the next page.
func (ix *AddrIndex) TxIDs(db Reader, pkh [20]byte, from, to uint64, after *TxRef, limit int) (out []TxRef, more bool, err error) {
	if from > to {
		return nil, false, nil
	}
	start := make([]byte, 0, historyKeySize)
	start = append(append(append(start, prefixHistory), pkh[:]...), u64be(from)...)
	if after != nil && after.Height >= from {
		// Past every entry of after: its keys end in dir (0 or 1) | n.
		start = append(append(start[:21], u64be(after.Height)...), after.TxID[:]...)
		start = append(start, DirSpent+1)
	}
	var limitKey []byte
	if to < ^uint64(0) {
		limitKey = append(append([]byte{prefixHistory}, pkh[:]...), u64be(to+1)...)
	} else {
		limitKey = util.BytesPrefix(append([]byte{prefixHistory}, pkh[:]...)).Limit
	}
	it := db.NewIterator(&util.Range{Start: start, Limit: limitKey}, nil)
	defer it.Release()
	for it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != historyKeySize || len(v) != 8 {
			return nil, false, fmt.Errorf("%w: addrindex history entry of %d bytes", ErrCorrupt, len(k))
		}
		var ref TxRef
		ref.Height = binary.BigEndian.Uint64(k[21:])
		copy(ref.TxID[:], k[29:61])
		n := len(out)
		if n == 0 || out[n-1].TxID != ref.TxID || out[n-1].Height != ref.Height {
			if n >= limit {
				return out, true, nil
			}
			out = append(out, ref)
			n++
		}
		amount := binary.LittleEndian.Uint64(v)
		if k[61] == DirReceived {
			out[n-1].Received += amount
		} else {
			out[n-1].Spent += amount
		}
	}
	return out, false, it.Error()
}

func u64be(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
