package wire

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/dchest/siphash"
)

// Compact blocks (SPEC section 5, BIP 152). A compact block announces a
// block by its header and a 6-byte short id per transaction; receivers
// rebuild it from the transactions they already have. The encoding is
//
//	header (88) | nonce u64 | varint n | n short ids (6 bytes each, LE) |
//	varint p | p times (varint index | transaction)
//
// The prefilled transactions carry their absolute index in the block, in
// strictly ascending order, and the first is the coinbase (index 0); the
// short ids stand for every other transaction in block order.

// ShortIDSize is the encoded size of a short id.
const ShortIDSize = 6

// shortIDMask keeps the low 48 bits of a SipHash output.
const shortIDMask = 1<<(8*ShortIDSize) - 1

// ShortID is a transaction's short id: the low 48 bits of SipHash-2-4 of
// its txid under a block's ShortIDKey.
type ShortID uint64

// ShortIDKey is the SipHash-2-4 key of one compact block: the first two
// little-endian u64 of SHA-256(header || nonce u64 LE). The nonce lets an
// announcer pick a key no one could have predicted before the header
// existed, so colliding transactions cannot be prepared in advance.
type ShortIDKey struct{ K0, K1 uint64 }

// NewShortIDKey derives the short-id key of a header and nonce.
func NewShortIDKey(h *Header, nonce uint64) ShortIDKey {
	var b [HeaderSize + 8]byte
	h.put(b[:HeaderSize])
	binary.LittleEndian.PutUint64(b[HeaderSize:], nonce)
	d := sha256.Sum256(b[:])
	return ShortIDKey{K0: binary.LittleEndian.Uint64(d[0:8]), K1: binary.LittleEndian.Uint64(d[8:16])}
}

// ShortID returns the short id of a txid under k.
func (k ShortIDKey) ShortID(txid Hash) ShortID {
	return ShortID(siphash.Hash(k.K0, k.K1, txid[:]) & shortIDMask)
}

// PrefilledTx is a transaction sent in full inside a compact block, with
// its absolute index in the block.
type PrefilledTx struct {
	Index int
	Tx    *Tx
}

// CompactBlock is a block announced by short ids.
type CompactBlock struct {
	Header    Header
	Nonce     uint64
	ShortIDs  []ShortID
	Prefilled []PrefilledTx
}

// MaxBlockTxs returns the most transactions a block of at most
// maxBlockBytes can hold; decoders bound compact-block and blocktxn counts
// by it.
func MaxBlockTxs(maxBlockBytes int) int {
	return max(0, (maxBlockBytes-HeaderSize-1)/minTxSize)
}

// NewCompactBlock returns the compact form of b under nonce. txids are
// b's txids in order (b.TxIDs(); passed in because the caller usually has
// them). prefill lists indexes, besides the coinbase's, to send in full:
// transactions the receivers are unlikely to have. Out-of-range and
// repeated indexes are ignored.
func NewCompactBlock(b *Block, txids []Hash, nonce uint64, prefill ...int) *CompactBlock {
	full := make([]bool, len(b.Txs))
	if len(full) > 0 {
		full[0] = true
	}
	for _, i := range prefill {
		if i >= 0 && i < len(full) {
			full[i] = true
		}
	}
	cb := &CompactBlock{Header: b.Header, Nonce: nonce}
	k := NewShortIDKey(&b.Header, nonce)
	for i, tx := range b.Txs {
		if full[i] {
			cb.Prefilled = append(cb.Prefilled, PrefilledTx{Index: i, Tx: tx})
		} else {
			cb.ShortIDs = append(cb.ShortIDs, k.ShortID(txids[i]))
		}
	}
	return cb
}

// Key returns the block's short-id key.
func (cb *CompactBlock) Key() ShortIDKey { return NewShortIDKey(&cb.Header, cb.Nonce) }

// TxCount returns the number of transactions in the announced block.
func (cb *CompactBlock) TxCount() int { return len(cb.ShortIDs) + len(cb.Prefilled) }

// SerializeSize returns the length of the encoding.
func (cb *CompactBlock) SerializeSize() int {
	n := HeaderSize + 8 + uvarintSize(uint64(len(cb.ShortIDs))) + ShortIDSize*len(cb.ShortIDs) +
		uvarintSize(uint64(len(cb.Prefilled)))
	for _, p := range cb.Prefilled {
		n += uvarintSize(uint64(p.Index)) + p.Tx.SerializeSize()
	}
	return n
}

// Encode returns the canonical encoding of cb.
func (cb *CompactBlock) Encode() []byte {
	out := make([]byte, HeaderSize, cb.SerializeSize())
	cb.Header.put(out)
	out = binary.LittleEndian.AppendUint64(out, cb.Nonce)
	out = binary.AppendUvarint(out, uint64(len(cb.ShortIDs)))
	for _, s := range cb.ShortIDs {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(s))
		out = append(out, b[:ShortIDSize]...)
	}
	out = binary.AppendUvarint(out, uint64(len(cb.Prefilled)))
	for _, p := range cb.Prefilled {
		out = binary.AppendUvarint(out, uint64(p.Index))
		out = p.Tx.AppendEncoding(out, false)
	}
	return out
}

// DecodeCompactBlock decodes one compact block and rejects trailing bytes,
// a block of more than maxTxs transactions
// (MaxBlockTxs), and prefilled indexes that are not strictly ascending,
// do not start with the coinbase's 0, or fall outside the block. Callers
// bound len(b) by max_block_bytes before calling.
func DecodeCompactBlock(b []byte, maxTxs int) (*CompactBlock, error) {
	if len(b) < HeaderSize+8 {
		return nil, decodeErr("compact block is %d bytes, shorter than a header and nonce", len(b))
	}
	cb := &CompactBlock{}
	cb.Header, _ = DecodeHeader(b[:HeaderSize])
	r := &reader{b: b, off: HeaderSize}
	cb.Nonce = r.u64()
	n := r.varint(uint64(min(maxTxs, r.left()/ShortIDSize)), "short id count")
	if r.err != nil {
		return nil, r.err
	}
	if n > 0 {
		cb.ShortIDs = make([]ShortID, n)
	}
	// The count's bound was taken before the count's own bytes: take
	// checks again.
	raw := r.take(int(n) * ShortIDSize)
	if r.err != nil {
		return nil, r.err
	}
	for i := range cb.ShortIDs {
		var w [8]byte
		copy(w[:], raw[i*ShortIDSize:(i+1)*ShortIDSize])
		cb.ShortIDs[i] = ShortID(binary.LittleEndian.Uint64(w[:]))
	}
	p := r.varint(uint64(min(maxTxs-int(n), r.left()/(1+minTxSize))), "prefilled count")
	if r.err != nil {
		return nil, r.err
	}
	if p == 0 {
		return nil, decodeErr("compact block without its coinbase prefilled")
	}
	total := n + p
	cb.Prefilled = make([]PrefilledTx, 0, p)
	for i := uint64(0); i < p; i++ {
		idx := r.varint(total-1, "prefilled index")
		if r.err != nil {
			return nil, r.err
		}
		switch {
		case i == 0 && idx != 0:
			r.fail("first prefilled index %d, want 0 (the coinbase)", idx)
		case i > 0 && int(idx) <= cb.Prefilled[i-1].Index:
			r.fail("prefilled index %d after %d: not ascending", idx, cb.Prefilled[i-1].Index)
		}
		tx := r.tx()
		if r.err != nil {
			return nil, r.err
		}
		cb.Prefilled = append(cb.Prefilled, PrefilledTx{Index: int(idx), Tx: tx})
	}
	if r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
		return nil, r.err
	}
	return cb, nil
}

// AppendTxs appends varint n | n transactions (the body of the sync
// protocol's blocktxn answer) to b.
func AppendTxs(b []byte, txs []*Tx) []byte {
	b = binary.AppendUvarint(b, uint64(len(txs)))
	for _, tx := range txs {
		b = tx.AppendEncoding(b, false)
	}
	return b
}

// DecodeTxs decodes varint n | n transactions filling b exactly, with n at
// most max.
func DecodeTxs(b []byte, max int) ([]*Tx, error) {
	r := &reader{b: b}
	n := r.varint(uint64(min(max, r.left()/minTxSize)), "transaction count")
	if r.err != nil {
		return nil, r.err
	}
	txs := make([]*Tx, 0, n)
	for i := uint64(0); i < n; i++ {
		tx := r.tx()
		if r.err != nil {
			return nil, r.err
		}
		txs = append(txs, tx)
	}
	if r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
		return nil, r.err
	}
	return txs, nil
}
