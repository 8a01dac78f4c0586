package indexes

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/wire"
)

const (
	prefixTx      = 'x'
	prefixTxBlock = 'y'
	// maxTxValueSize bounds "x" values: two uvarints of at most 32 bits.
	maxTxValueSize = 2 * binary.MaxVarintLen32
)

var keyTxMarker = []byte("X")

// TxIndex maps every best-chain transaction to its block's height and its
// position in the block ("x" keys), and every indexed height to its block
// ("y" keys). Safe for concurrent use.
type TxIndex struct{ state }

// NewTxIndex returns a transaction index; list it in
// chain.Config.Indexers and call Catchup after Open.
func NewTxIndex() *TxIndex { return &TxIndex{} }

func txKey(txid wire.Hash) []byte {
	return append([]byte{prefixTx}, txid[:]...)
}

func txBlockKey(height uint64) []byte {
	return binary.BigEndian.AppendUint32([]byte{prefixTxBlock}, uint32(height))
}

// ConnectBlock implements chain.Indexer.
func (ix *TxIndex) ConnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	id := b.BlockID()
	ix.put(batch, id, txids, height)
	ix.putMarker(batch, keyTxMarker, id)
}

// put adds the block's entries. The batch copies keys and values, so one
// scratch buffer serves every entry.
func (ix *TxIndex) put(batch *leveldb.Batch, id wire.Hash, txids []wire.Hash, height uint64) {
	batch.Put(txBlockKey(height), id[:])
	key := make([]byte, 1+wire.HashSize)
	key[0] = prefixTx
	val := make([]byte, 0, maxTxValueSize)
	for i := range txids {
		copy(key[1:], txids[i][:])
		val = binary.AppendUvarint(binary.AppendUvarint(val[:0], height), uint64(i))
		batch.Put(key, val)
	}
}

// DisconnectBlock implements chain.Indexer.
func (ix *TxIndex) DisconnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	key := make([]byte, 1+wire.HashSize)
	key[0] = prefixTx
	for i := range txids {
		copy(key[1:], txids[i][:])
		batch.Delete(key)
	}
	batch.Delete(txBlockKey(height))
	ix.putMarker(batch, keyTxMarker, b.Header.PrevBlock)
}

// Catchup implements Index.
func (ix *TxIndex) Catchup(c Chain) error { return catchup(c, ix, &ix.state) }

func (ix *TxIndex) name() string       { return "txindex" }
func (ix *TxIndex) marker() []byte     { return keyTxMarker }
func (ix *TxIndex) prefixes() [][]byte { return [][]byte{{prefixTx}, {prefixTxBlock}} }

func (ix *TxIndex) rebuildBlock(_ Chain, batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64) error {
	ix.put(batch, b.BlockID(), txids, height)
	return nil
}

// decodeTxValue reads an "x" value: uvarint height | uvarint position,
// each below 2^32, and nothing after.
func decodeTxValue(v []byte) (height uint64, pos uint32, err error) {
	h, n := binary.Uvarint(v)
	if n <= 0 || h > 1<<32-1 {
		return 0, 0, fmt.Errorf("%w: txindex entry %x", ErrCorrupt, v)
	}
	p, m := binary.Uvarint(v[n:])
	if m <= 0 || p > 1<<32-1 || n+m != len(v) {
		return 0, 0, fmt.Errorf("%w: txindex entry %x", ErrCorrupt, v)
	}
	return h, uint32(p), nil
}

// Lookup returns the best-chain block holding txid and the transaction's
// position in it. Both reads go to db, so a snapshot answers as of its
// moment.
func (ix *TxIndex) Lookup(db Reader, txid wire.Hash) (block wire.Hash, pos uint32, found bool, err error) {
	v, err := db.Get(txKey(txid), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return wire.Hash{}, 0, false, nil
	}
	if err != nil {
		return wire.Hash{}, 0, false, fmt.Errorf("txindex: %w", err)
	}
	height, pos, err := decodeTxValue(v)
	if err != nil {
		return wire.Hash{}, 0, false, err
	}
	id, err := db.Get(txBlockKey(height), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return wire.Hash{}, 0, false, fmt.Errorf("%w: txindex has %s at height %d, and no block at that height", ErrCorrupt, txid, height)
	}
	if err != nil {
		return wire.Hash{}, 0, false, fmt.Errorf("txindex: %w", err)
	}
	if len(id) != wire.HashSize {
		return wire.Hash{}, 0, false, fmt.Errorf("%w: txindex block entry of %d bytes at height %d", ErrCorrupt, len(id), height)
	}
	copy(block[:], id)
	return block, pos, true, nil
}
