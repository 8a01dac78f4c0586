package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// HashSize is the size of a block id, txid or Merkle hash.
const HashSize = 32

// Hash is a SHA-256 based digest. In JSON and logs it is lowercase hex of the
// bytes in order (no byte reversal).
type Hash [HashSize]byte

// ZeroHash is the all-zero hash (the genesis block's previous id).
var ZeroHash Hash

// String returns the lowercase hex of the hash bytes in order.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeroes.
func (h Hash) IsZero() bool { return h == ZeroHash }

// MarshalText encodes the hash as lowercase hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ErrBadHash is returned by ParseHash for anything but 64 hex digits.
var ErrBadHash = errors.New("hash must be 64 hex digits")

// ParseHash parses 64 hex digits (either case) into a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, ErrBadHash
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, ErrBadHash
	}
	return h, nil
}

// H returns SHA-256(b).
func H(b []byte) Hash { return sha256.Sum256(b) }

// H2 returns SHA-256(SHA-256(b)).
func H2(b []byte) Hash {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}

// HeaderSize is the encoded size of a block header.
const HeaderSize = 88

// Header is a block header (88 bytes on the wire).
type Header struct {
	Version    uint32
	PrevBlock  Hash
	MerkleRoot Hash
	Time       uint64
	Bits       uint32
	Nonce      uint64
}

// BlockID returns H2 of the encoded header.
func (h *Header) BlockID() Hash {
	var b [HeaderSize]byte
	h.put(b[:])
	return H2(b[:])
}

// PubKeySize is the size of a compressed secp256k1 public key.
const PubKeySize = 33

// SigSize is the size of an r||s signature.
const SigSize = 64

// OutPoint names a transaction output.
type OutPoint struct {
	TxID  Hash
	Index uint32
}

// TxIn is a transaction input: the output it spends, the public key that
// owns it, and the signature.
type TxIn struct {
	Prev   OutPoint
	PubKey [PubKeySize]byte
	Sig    [SigSize]byte
}

// TxOut is a transaction output: an amount in base units locked to a public
// key hash.
type TxOut struct {
	Amount uint64
	PKH    [20]byte
}

// Tx is a transaction. The coinbase is the transaction with no inputs.
type Tx struct {
	Version  uint32
	Inputs   []TxIn
	Outputs  []TxOut
	LockTime uint64
	Extra    []byte
}

// IsCoinbase reports whether tx has no inputs.
func (tx *Tx) IsCoinbase() bool { return len(tx.Inputs) == 0 }

// TxID returns H2 of the transaction's encoding, signatures included.
func (tx *Tx) TxID() Hash { return H2(tx.Encode()) }

// Block is a header and its transactions.
type Block struct {
	Header Header
	Txs    []*Tx
}

// BlockID returns the id of the block's header.
func (b *Block) BlockID() Hash { return b.Header.BlockID() }

// TxIDs returns the txids of the block's transactions in order.
func (b *Block) TxIDs() []Hash {
	ids := make([]Hash, len(b.Txs))
	var buf []byte // one encoding buffer for all, not one allocation per tx
	for i, tx := range b.Txs {
		buf = tx.AppendEncoding(buf[:0], false)
		ids[i] = H2(buf)
	}
	return ids
}

// Coin is an unspent transaction output with the facts the rules need:
// its amount and owner, the height of the block that created it, and
// whether a coinbase created it.
type Coin struct {
	Amount   uint64
	PKH      [20]byte
	Height   uint64
	Coinbase bool
}
