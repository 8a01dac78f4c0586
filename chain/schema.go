package chain

// The LevelDB schema. Every key the chain state writes is listed here, with
// its byte layout; the read and write helpers below are the only code that
// touches these bytes.
//
//	"v"                     -> schema version u32 | network_id [4] | genesis id [32]
//	"t"                     -> id [32] of the block the UTXO set is at (the
//	                           flushed tip); written in the same batch as the
//	                           UTXO changes it describes
//	"f"                     -> the block files' durable ends, as last synced
//	                           before a batch that points into them:
//	                           blk file u32 | blk size u64 |
//	                           rev file u32 | rev size u64
//	"h" | id [32]           -> index entry: header [88] | height u64 |
//	                           status u8 | seq u64 | chainwork [32] (big-endian) |
//	                           stored u8 (bit 0: body, bit 1: undo data) |
//	                           body position [12] | undo position [12]
//	                           (blockfile.Pos: file u32 | offset u32 | length u32)
//
// Block bodies (SPEC section 2 encoding) and undo data live in the block
// files (package chain/blockfile: blocks/blk*.dat and rev*.dat), never in
// LevelDB. Undo data is varint n, then the n coins the block spent in the
// order it spent them, each amount u64 | pkh [20] | height u64 | coinbase u8.
// Schema 1 kept bodies under "b" | id and undo data under "r" | id.
//	"u" | txid [32] | index u32 (big-endian, so keys sort by txid then index)
//	                        -> amount u64 | pkh [20] | height u64 | coinbase u8
//
// Prefixes "x", "X", "y", "a", "I", "j" and "i" belong to the optional
// indexes (Indexer; package chain/indexes documents their layout).
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

	"tally/chain/blockfile"
	"tally/wire"
)

const schemaVersion = 2

var (
	keyVersion = []byte("v")
	keyTip     = []byte("t")
	keyFiles   = []byte("f")
)

const (
	prefixIndex = 'h'
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
	return appendCoinKey(make([]byte, 0, coinKeyBytes), op)
}

// coinKeyBytes is the length of a coin's key.
const coinKeyBytes = 1 + wire.HashSize + 4

// appendCoinKey appends op's coin key to b.
func appendCoinKey(b []byte, op wire.OutPoint) []byte {
	b = append(b, prefixCoin)
	b = append(b, op.TxID[:]...)
	return binary.BigEndian.AppendUint32(b, op.Index)
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
	header  wire.Header
	height  uint64
	status  uint8
	seq     uint64
	work    *big.Int
	hasData bool
	hasUndo bool
	data    blockfile.Pos
	undo    blockfile.Pos
}

// Bits of the index entry's stored byte.
const (
	storedData = 1 << 0
	storedUndo = 1 << 1
)

const indexEntrySize = wire.HeaderSize + 8 + 1 + 8 + 32 + 1 + 2*blockfile.PosSize

func encodeIndexEntry(e *indexEntry) []byte {
	b := make([]byte, indexEntrySize)
	copy(b, e.header.Encode())
	binary.LittleEndian.PutUint64(b[88:], e.height)
	b[96] = e.status
	binary.LittleEndian.PutUint64(b[97:], e.seq)
	e.work.FillBytes(b[105:137])
	if e.hasData {
		b[137] |= storedData
	}
	if e.hasUndo {
		b[137] |= storedUndo
	}
	copy(b[138:150], e.data.Append(nil))
	copy(b[150:162], e.undo.Append(nil))
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
	if b[137]&^(storedData|storedUndo) != 0 {
		return nil, fmt.Errorf("%w: index record with stored bits %#x", ErrCorrupt, b[137])
	}
	data, _ := blockfile.DecodePos(b[138:150])
	undo, _ := blockfile.DecodePos(b[150:162])
	return &indexEntry{
		header:  h,
		height:  binary.LittleEndian.Uint64(b[88:]),
		status:  b[96],
		seq:     binary.LittleEndian.Uint64(b[97:]),
		work:    new(big.Int).SetBytes(b[105:137]),
		hasData: b[137]&storedData != 0,
		hasUndo: b[137]&storedUndo != 0,
		data:    data,
		undo:    undo,
	}, nil
}

// fileEnds are the block files' durable ends (key "f").
type fileEnds struct{ blk, rev blockfile.End }

const fileEndsSize = 2 * (4 + 8)

func encodeFileEnds(e fileEnds) []byte {
	b := make([]byte, 0, fileEndsSize)
	for _, end := range []blockfile.End{e.blk, e.rev} {
		b = binary.LittleEndian.AppendUint32(b, end.File)
		b = binary.LittleEndian.AppendUint64(b, uint64(end.Size))
	}
	return b
}

func decodeFileEnds(b []byte) (fileEnds, error) {
	if len(b) != fileEndsSize {
		return fileEnds{}, fmt.Errorf("%w: block file ends of %d bytes", ErrCorrupt, len(b))
	}
	var ends [2]blockfile.End
	for i := range ends {
		size := binary.LittleEndian.Uint64(b[i*12+4:])
		if size > 1<<32 {
			return fileEnds{}, fmt.Errorf("%w: block file end %d", ErrCorrupt, size)
		}
		ends[i] = blockfile.End{File: binary.LittleEndian.Uint32(b[i*12:]), Size: int64(size)}
	}
	return fileEnds{ends[0], ends[1]}, nil
}

func encodeVersion(networkID [4]byte, genesis wire.Hash) []byte {
	b := binary.LittleEndian.AppendUint32(nil, schemaVersion)
	b = append(b, networkID[:]...)
	return append(b, genesis[:]...)
}

// readBlock reads n's body from the block files.
func (c *Chain) readBlock(n *node) (*wire.Block, error) {
	if !n.hasData {
		return nil, fmt.Errorf("%w: block %s", ErrNotFound, n.id)
	}
	b, err := c.readBody(n.data)
	if errors.Is(err, blockfile.ErrPruned) {
		return nil, fmt.Errorf("%w: block %s at height %d", ErrPruned, n.id, n.height)
	}
	if err != nil {
		return nil, fmt.Errorf("block %s: %w", n.id, err)
	}
	return b, nil
}

// readBody reads and decodes the block body at pos.
func (c *Chain) readBody(pos blockfile.Pos) (*wire.Block, error) {
	raw, err := c.blk.Read(pos)
	if errors.Is(err, blockfile.ErrPruned) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	b, err := wire.DecodeBlock(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return b, nil
}

// readUndo reads n's undo data from the block files.
func (c *Chain) readUndo(n *node) ([]wire.Coin, error) {
	if !n.hasUndo {
		return nil, fmt.Errorf("%w: no undo data for block %s", ErrCorrupt, n.id)
	}
	raw, err := c.rev.Read(n.undo)
	if errors.Is(err, blockfile.ErrPruned) {
		return nil, fmt.Errorf("%w: undo data of block %s at height %d", ErrPruned, n.id, n.height)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: undo data of block %s: %v", ErrCorrupt, n.id, err)
	}
	return decodeUndo(raw)
}
