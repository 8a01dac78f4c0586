package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Encoding sizes and bounds fixed by SPEC section 2.
const (
	// InputSize is the encoded size of one input.
	InputSize = HashSize + 4 + PubKeySize + SigSize
	// OutputSize is the encoded size of one output.
	OutputSize = 8 + 20
	// MaxExtraBytes is the largest extra field any transaction may carry.
	MaxExtraBytes = 100
	// minTxSize is the smallest possible transaction encoding: version,
	// two one-byte counts, lock_time and a one-byte extra length.
	minTxSize = 4 + 1 + 1 + 8 + 1
)

// ErrDecode is wrapped by every decoding error, so callers can tell a
// malformed encoding from a rule violation with errors.Is.
var ErrDecode = errors.New("malformed encoding")

func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
}

// uvarintSize returns the encoded length of v as LEB128.
func uvarintSize(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// reader walks an encoding, refusing to read past its end.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = decodeErr(format+" at offset %d", append(args, r.off)...)
	}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.left() {
		r.fail("need %d bytes, have %d", n, r.left())
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

// peekCount returns the count that a varint skip bytes ahead will give,
// if it is one varint would accept with elements of size bytes each
// following it; otherwise 0 (varint then reads it and fails, or bounds
// it). It reads nothing.
func (r *reader) peekCount(skip, size int) uint64 {
	if r.err != nil || skip < 0 || skip > r.left() {
		return 0
	}
	at := r.off + skip
	v, n := binary.Uvarint(r.b[at:])
	if n <= 0 || n != uvarintSize(v) || v > uint64(len(r.b)-at-n)/uint64(size) {
		return 0
	}
	return v
}

// varint reads a minimal LEB128 value no larger than max.
func (r *reader) varint(max uint64, what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint for %s", what)
		return 0
	}
	if n != uvarintSize(v) {
		r.fail("non-minimal varint for %s", what)
		return 0
	}
	if v > max {
		r.fail("%s %d exceeds limit %d", what, v, max)
		return 0
	}
	r.off += n
	return v
}

func putHeader(b []byte, h *Header) {
	binary.LittleEndian.PutUint32(b[0:], h.Version)
	copy(b[4:36], h.PrevBlock[:])
	copy(b[36:68], h.MerkleRoot[:])
	binary.LittleEndian.PutUint64(b[68:], h.Time)
	binary.LittleEndian.PutUint32(b[76:], h.Bits)
	binary.LittleEndian.PutUint64(b[80:], h.Nonce)
}

func (h *Header) put(b []byte) { putHeader(b, h) }

// Encode returns the 88-byte header encoding.
func (h *Header) Encode() []byte {
	b := make([]byte, HeaderSize)
	h.put(b)
	return b
}

// DecodeHeader decodes exactly 88 bytes.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderSize {
		return h, decodeErr("header is %d bytes, want %d", len(b), HeaderSize)
	}
	h.Version = binary.LittleEndian.Uint32(b[0:])
	copy(h.PrevBlock[:], b[4:36])
	copy(h.MerkleRoot[:], b[36:68])
	h.Time = binary.LittleEndian.Uint64(b[68:])
	h.Bits = binary.LittleEndian.Uint32(b[76:])
	h.Nonce = binary.LittleEndian.Uint64(b[80:])
	return h, nil
}

// SerializeSize returns the length of the transaction's encoding.
func (tx *Tx) SerializeSize() int {
	return 4 + uvarintSize(uint64(len(tx.Inputs))) + len(tx.Inputs)*InputSize +
		uvarintSize(uint64(len(tx.Outputs))) + len(tx.Outputs)*OutputSize +
		8 + uvarintSize(uint64(len(tx.Extra))) + len(tx.Extra)
}

// Encode returns the canonical encoding of tx.
func (tx *Tx) Encode() []byte {
	return tx.AppendEncoding(make([]byte, 0, tx.SerializeSize()), false)
}

// AppendEncoding appends the encoding of tx to b. With zeroSigs every
// signature is written as 64 zero bytes, as the signature message requires.
func (tx *Tx) AppendEncoding(b []byte, zeroSigs bool) []byte {
	var zero [SigSize]byte
	b = binary.LittleEndian.AppendUint32(b, tx.Version)
	b = binary.AppendUvarint(b, uint64(len(tx.Inputs)))
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		b = append(b, in.Prev.TxID[:]...)
		b = binary.LittleEndian.AppendUint32(b, in.Prev.Index)
		b = append(b, in.PubKey[:]...)
		if zeroSigs {
			b = append(b, zero[:]...)
		} else {
			b = append(b, in.Sig[:]...)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(tx.Outputs)))
	for i := range tx.Outputs {
		b = binary.LittleEndian.AppendUint64(b, tx.Outputs[i].Amount)
		b = append(b, tx.Outputs[i].PKH[:]...)
	}
	b = binary.LittleEndian.AppendUint64(b, tx.LockTime)
	b = binary.AppendUvarint(b, uint64(len(tx.Extra)))
	return append(b, tx.Extra...)
}

// smallTx is a transaction of two inputs and at most two outputs (with
// oneInTx, the shape of nearly every payment) in one allocation: a
// block's hop walks its transactions several times (encoding, rules, pool
// removal), and three objects per transaction, scattered over the heap,
// miss the CPU caches and TLB three times as often as one.
type smallTx struct {
	tx  Tx
	in  [2]TxIn
	out [2]TxOut
}

// oneInTx is smallTx for one input.
type oneInTx struct {
	tx  Tx
	in  [1]TxIn
	out [2]TxOut
}

// newTx returns a transaction with room for nIn inputs and nOut outputs.
func newTx(nIn, nOut uint64) *Tx {
	var tx *Tx
	switch {
	case nIn == 1 && nOut <= 2:
		m := new(oneInTx)
		m.tx.Inputs, m.tx.Outputs = m.in[:], m.out[:nOut]
		tx = &m.tx
	case nIn == 2 && nOut <= 2:
		m := new(smallTx)
		m.tx.Inputs, m.tx.Outputs = m.in[:], m.out[:nOut]
		tx = &m.tx
	default:
		tx = &Tx{Inputs: make([]TxIn, nIn), Outputs: make([]TxOut, nOut)}
	}
	if nIn == 0 {
		tx.Inputs = nil
	}
	if nOut == 0 {
		tx.Outputs = nil
	}
	return tx
}

func (r *reader) tx() *Tx {
	version := r.u32()
	nIn := r.varint(uint64(r.left()/InputSize), "input count")
	if r.err != nil {
		return nil
	}
	// The output count comes after the inputs: peek at it, so that the
	// transaction is allocated once with room for both.
	nOut := r.peekCount(int(nIn)*InputSize, OutputSize)
	tx := newTx(nIn, nOut)
	tx.Version = version
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		s := r.take(InputSize)
		if s == nil {
			return nil
		}
		copy(in.Prev.TxID[:], s[:32])
		in.Prev.Index = binary.LittleEndian.Uint32(s[32:36])
		copy(in.PubKey[:], s[36:69])
		copy(in.Sig[:], s[69:])
	}
	if n := r.varint(uint64(r.left()/OutputSize), "output count"); r.err != nil {
		return nil
	} else if n != nOut {
		tx.Outputs = make([]TxOut, n) // the peek failed: the count is bounded now
	}
	for i := range tx.Outputs {
		s := r.take(OutputSize)
		if s == nil {
			return nil
		}
		tx.Outputs[i].Amount = binary.LittleEndian.Uint64(s)
		copy(tx.Outputs[i].PKH[:], s[8:])
	}
	tx.LockTime = r.u64()
	n := r.varint(MaxExtraBytes, "extra length")
	if s := r.take(int(n)); s != nil && n > 0 {
		tx.Extra = append([]byte(nil), s...)
	}
	if r.err != nil {
		return nil
	}
	return tx
}

// DecodeTx decodes one transaction and rejects trailing bytes. Callers bound
// len(b) by max_tx_bytes before calling.
func DecodeTx(b []byte) (*Tx, error) {
	r := &reader{b: b}
	tx := r.tx()
	if r.err == nil && r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
	}
	if r.err != nil {
		return nil, r.err
	}
	return tx, nil
}

// SerializeSize returns the length of the block's encoding.
func (b *Block) SerializeSize() int {
	n := HeaderSize + uvarintSize(uint64(len(b.Txs)))
	for _, tx := range b.Txs {
		n += tx.SerializeSize()
	}
	return n
}

// Encode returns the canonical encoding of the block.
func (b *Block) Encode() []byte {
	return b.AppendEncoding(make([]byte, 0, b.SerializeSize()))
}

// AppendEncoding appends the canonical encoding of the block to dst,
// growing it as append does (Encode sizes its buffer first). A caller
// encoding many blocks can reuse one buffer with room for any block: a
// fresh megabyte costs more to touch than to fill, and sizing the block
// first is a pass over every transaction.
func (b *Block) AppendEncoding(dst []byte) []byte {
	var h [HeaderSize]byte
	b.Header.put(h[:])
	dst = append(dst, h[:]...)
	dst = binary.AppendUvarint(dst, uint64(len(b.Txs)))
	for _, tx := range b.Txs {
		dst = tx.AppendEncoding(dst, false)
	}
	return dst
}

// DecodeBlock decodes one block and rejects trailing bytes. Callers bound
// len(b) by max_block_bytes before calling.
func DecodeBlock(b []byte) (*Block, error) {
	if len(b) < HeaderSize {
		return nil, decodeErr("block is %d bytes, shorter than a header", len(b))
	}
	blk := &Block{}
	blk.Header, _ = DecodeHeader(b[:HeaderSize])
	r := &reader{b: b, off: HeaderSize}
	n := r.varint(uint64(r.left()/minTxSize), "transaction count")
	if r.err != nil {
		return nil, r.err
	}
	blk.Txs = make([]*Tx, 0, n)
	for i := uint64(0); i < n; i++ {
		tx := r.tx()
		if r.err != nil {
			return nil, r.err
		}
		blk.Txs = append(blk.Txs, tx)
	}
	if r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
		return nil, r.err
	}
	return blk, nil
}

// SigHash returns the message every input of tx signs:
// H2(network_id || encoding of tx with every sig set to 64 zero bytes).
func SigHash(tx *Tx, networkID [4]byte) Hash {
	b := make([]byte, 0, 4+tx.SerializeSize())
	b = append(b, networkID[:]...)
	return H2(tx.AppendEncoding(b, true))
}
