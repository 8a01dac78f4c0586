package indexes

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/wire"
)

const (
	prefixTx = 'x'
	// txValueSize is block id [32] | position u32.
	txValueSize = wire.HashSize + 4
)

var keyTxMarker = []byte("X")

// TxIndex maps every best-chain transaction to its block and position
// ("x" keys). Safe for concurrent use.
type TxIndex struct{ state }

// NewTxIndex returns a transaction index; list it in
// chain.Config.Indexers and call Catchup after Open.
func NewTxIndex() *TxIndex { return &TxIndex{} }

func txKey(txid wire.Hash) []byte {
	k := make([]byte, 1+wire.HashSize)
	k[0] = prefixTx
	copy(k[1:], txid[:])
	return k
}

// ConnectBlock implements chain.Indexer.
func (ix *TxIndex) ConnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	id := b.BlockID()
	ix.put(batch, id, txids)
	ix.putMarker(batch, keyTxMarker, id)
}

func (ix *TxIndex) put(batch *leveldb.Batch, id wire.Hash, txids []wire.Hash) {
	for i, txid := range txids {
		v := make([]byte, txValueSize)
		copy(v, id[:])
		binary.LittleEndian.PutUint32(v[wire.HashSize:], uint32(i))
		batch.Put(txKey(txid), v)
	}
}

// DisconnectBlock implements chain.Indexer.
func (ix *TxIndex) DisconnectBlock(batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, height uint64, spent []wire.Coin) {
	for _, txid := range txids {
		batch.Delete(txKey(txid))
	}
	ix.putMarker(batch, keyTxMarker, b.Header.PrevBlock)
}

// Catchup implements Index.
func (ix *TxIndex) Catchup(c Chain) error { return catchup(c, ix, &ix.state) }

func (ix *TxIndex) name() string       { return "txindex" }
func (ix *TxIndex) marker() []byte     { return keyTxMarker }
func (ix *TxIndex) prefixes() [][]byte { return [][]byte{{prefixTx}} }

func (ix *TxIndex) rebuildBlock(_ Reader, batch *leveldb.Batch, b *wire.Block, txids []wire.Hash, _ uint64) error {
	ix.put(batch, b.BlockID(), txids)
	return nil
}

// Lookup returns the best-chain block holding txid and the transaction's
// position in it.
func (ix *TxIndex) Lookup(db Reader, txid wire.Hash) (block wire.Hash, pos uint32, found bool, err error) {
	v, err := db.Get(txKey(txid), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return wire.Hash{}, 0, false, nil
	}
	if err != nil {
		return wire.Hash{}, 0, false, fmt.Errorf("txindex: %w", err)
	}
	if len(v) != txValueSize {
		return wire.Hash{}, 0, false, fmt.Errorf("%w: txindex entry of %d bytes", ErrCorrupt, len(v))
	}
	copy(block[:], v)
	return block, binary.LittleEndian.Uint32(v[wire.HashSize:]), true, nil
}
