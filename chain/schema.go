package chain

// The LevelDB schema. Every key the chain state writes is listed here, with
// its byte layout; the read and write helpers below are the only code that
// touches these bytes.
//
//	"v"                     -> schema version u32 | network_id [4] | genesis id [32]
//	"t"                     -> id [32] of the block the UTXO set is at (the
//	                           flushed tip); written in the same batch as the
//	                           UTXO changes it describes
//	"b" | id [32]           -> block encoding (SPEC section 2)
//	"h" | id [32]           -> index entry: header [88] | height u64 |
//	                           status u8 | seq u64 | chainwork [32] (big-endian)
//	"r" | id [32]           -> undo data: varint n, then n spent coins in the
//	                           order the block spent them, each
//	                           amount u64 | pkh [20] | height u64 | coinbase u8
//	"u" | txid [32] | index u32 (big-endian, so keys sort by txid then index)
//	                        -> amount u64 | pkh [20] | height u64 | coinbase u8
//
// Prefixes "x", "a" and "i" belong to the optional indexes (Indexer;
// package chain/indexes documents their layout).
//
// Integers are little-endian unless marked big-endian. Worked example: the
// coin at index 1 of txid 00aa..ff, 5 TALLY to pkh P at height 7 from a
// coinbase, is key 75 00aa..ff 00000001 and value
// 0065cd1d00000000 P 0700000000000000 01.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/syndtr/goleveldb/leveldb"

	"tally/wire"
)

const schemaVersion = 1

var (
	keyVersion = []byte("v")
	keyTip     = []byte("t")
)

const (
	prefixBlock = 'b'
	prefixIndex = 'h'
	prefixUndo  = 'r'
	prefixCoin  = 'u'
)

// ErrCorrupt wraps every error caused by unreadable stored data.
var ErrCorrupt = errors.New("chain database corrupt")

func hashKey(prefix byte, id wire.Hash) []byte {
	k := make([]byte, 1+wire.HashSize)
	k[0] = prefix
	copy(k[1:], id[:])
	return k
}

func coinKey(op wire.OutPoint) []byte {
	k := make([]byte, 1+wire.HashSize+4)
	k[0] = prefixCoin
	copy(k[1:], op.TxID[:])
	binary.BigEndian.PutUint32(k[1+wire.HashSize:], op.Index)
	return k
}

func parseCoinKey(k []byte) (wire.OutPoint, bool) {
	var op wire.OutPoint
	if len(k) != 1+wire.HashSize+4 || k[0] != prefixCoin {
		return op, false
	}
	copy(op.TxID[:], k[1:])
	op.Index = binary.BigEndian.Uint32(k[1+wire.HashSize:])
	return op, true
}

const coinSize = 8 + 20 + 8 + 1

func appendCoin(b []byte, c wire.Coin) []byte {
	b = binary.LittleEndian.AppendUint64(b, c.Amount)
	b = append(b, c.PKH[:]...)
	b = binary.LittleEndian.AppendUint64(b, c.Height)
	if c.Coinbase {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeCoin(b []byte) (wire.Coin, error) {
	var c wire.Coin
	if len(b) != coinSize || b[coinSize-1] > 1 {
		return c, fmt.Errorf("%w: coin record of %d bytes", ErrCorrupt, len(b))
	}
	c.Amount = binary.LittleEndian.Uint64(b)
	copy(c.PKH[:], b[8:28])
	c.Height = binary.LittleEndian.Uint64(b[28:])
	c.Coinbase = b[36] == 1
	return c, nil
}

func encodeUndo(spent []wire.Coin) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 10+len(spent)*coinSize), uint64(len(spent)))
	for _, c := range spent {
		b = appendCoin(b, c)
	}
	return b
}

func decodeUndo(b []byte) ([]wire.Coin, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) != n*coinSize {
		return nil, fmt.Errorf("%w: undo record of %d bytes", ErrCorrupt, len(b))
	}
	out := make([]wire.Coin, n)
	for i := range out {
		var err error
		if out[i], err = decodeCoin(b[k+i*coinSize : k+(i+1)*coinSize]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Block status bits stored in the index.
const (
	statusValid   = 1 << 0 // connected to a best chain once: all rules passed
	statusInvalid = 1 << 1 // violates a rule, or descends from a block that does
)

type indexEntry struct {
	header wire.Header
	height uint64
	status uint8
	seq    uint64
	work   *big.Int
}

const indexEntrySize = wire.HeaderSize + 8 + 1 + 8 + 32

func encodeIndexEntry(e *indexEntry) []byte {
	b := make([]byte, indexEntrySize)
	copy(b, e.header.Encode())
	binary.LittleEndian.PutUint64(b[88:], e.height)
	b[96] = e.status
	binary.LittleEndian.PutUint64(b[97:], e.seq)
	e.work.FillBytes(b[105:])
	return b
}

func decodeIndexEntry(b []byte) (*indexEntry, error) {
	if len(b) != indexEntrySize {
		return nil, fmt.Errorf("%w: index record of %d bytes", ErrCorrupt, len(b))
	}
	h, err := wire.DecodeHeader(b[:88])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &indexEntry{
		header: h,
		height: binary.LittleEndian.Uint64(b[88:]),
		status: b[96],
		seq:    binary.LittleEndian.Uint64(b[97:]),
		work:   new(big.Int).SetBytes(b[105:]),
	}, nil
}

func encodeVersion(networkID [4]byte, genesis wire.Hash) []byte {
	b := binary.LittleEndian.AppendUint32(nil, schemaVersion)
	b = append(b, networkID[:]...)
	return append(b, genesis[:]...)
}

func readBlock(db *leveldb.DB, id wire.Hash) (*wire.Block, error) {
	raw, err := db.Get(hashKey(prefixBlock, id), nil)
	if err != nil {
		return nil, fmt.Errorf("read block %s: %w", id, err)
	}
	b, err := wire.DecodeBlock(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: block %s: %v", ErrCorrupt, id, err)
	}
	return b, nil
}

func readUndo(db *leveldb.DB, id wire.Hash) ([]wire.Coin, error) {
	raw, err := db.Get(hashKey(prefixUndo, id), nil)
	if err != nil {
		return nil, fmt.Errorf("read undo %s: %w", id, err)
	}
	return decodeUndo(raw)
}
