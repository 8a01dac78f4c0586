package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/bits"
)

// MerkleLeaf returns the RFC 6962 leaf hash H(0x00 || txid).
func MerkleLeaf(txid Hash) Hash {
	var b [1 + HashSize]byte
	copy(b[1:], txid[:])
	return sha256.Sum256(b[:])
}

// MerkleNode returns the RFC 6962 interior hash H(0x01 || left || right).
func MerkleNode(left, right Hash) Hash {
	var b [1 + 2*HashSize]byte
	b[0] = 1
	copy(b[1:], left[:])
	copy(b[1+HashSize:], right[:])
	return sha256.Sum256(b[:])
}

// splitPoint returns the largest power of two strictly below n (n > 1).
func splitPoint(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// MerkleRoot returns the RFC 6962 root of the given txids: pairs are hashed
// level by level and an odd last node is promoted, never duplicated. The
// root of no leaves is the zero hash.
func MerkleRoot(txids []Hash) Hash {
	if len(txids) == 0 {
		return ZeroHash
	}
	level := make([]Hash, len(txids))
	for i, id := range txids {
		level[i] = MerkleLeaf(id)
	}
	for len(level) > 1 {
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 < len(level) {
				next = append(next, MerkleNode(level[i], level[i+1]))
			} else {
				next = append(next, level[i])
			}
		}
		level = next
	}
	return level[0]
}

// subtreeRoot returns the RFC 6962 hash of leaves (already leaf-hashed).
func subtreeRoot(leaves []Hash) Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := splitPoint(len(leaves))
	return MerkleNode(subtreeRoot(leaves[:k]), subtreeRoot(leaves[k:]))
}

// MerkleProof is an RFC 6962 audit path: the sibling hashes from the leaf up,
// with the leaf's index and the number of leaves.
type MerkleProof struct {
	Index     uint32
	LeafCount uint32
	Path      []Hash
}

// MaxMerklePath bounds the length of an audit path (leaf counts are u32).
const MaxMerklePath = 32

// ErrMerkleProof is returned for a proof that does not prove inclusion.
var ErrMerkleProof = errors.New("merkle proof does not verify")

// BuildMerkleProof returns the audit path of txids[index].
func BuildMerkleProof(txids []Hash, index int) (MerkleProof, error) {
	if index < 0 || index >= len(txids) || uint64(len(txids)) > 1<<32-1 {
		return MerkleProof{}, errors.New("merkle proof: index out of range")
	}
	leaves := make([]Hash, len(txids))
	for i, id := range txids {
		leaves[i] = MerkleLeaf(id)
	}
	var path []Hash
	var walk func(m int, d []Hash)
	walk = func(m int, d []Hash) {
		if len(d) == 1 {
			return
		}
		k := splitPoint(len(d))
		if m < k {
			walk(m, d[:k])
			path = append(path, subtreeRoot(d[k:]))
		} else {
			walk(m-k, d[k:])
			path = append(path, subtreeRoot(d[:k]))
		}
	}
	walk(index, leaves)
	return MerkleProof{Index: uint32(index), LeafCount: uint32(len(txids)), Path: path}, nil
}

// RootFromProof computes the root that the proof implies for txid
// (RFC 9162 section 2.1.3.2). It fails if the path has the wrong length for
// the index and leaf count.
func (p *MerkleProof) RootFromProof(txid Hash) (Hash, error) {
	if p.LeafCount == 0 || p.Index >= p.LeafCount || len(p.Path) > MaxMerklePath {
		return ZeroHash, ErrMerkleProof
	}
	fn, sn := uint64(p.Index), uint64(p.LeafCount-1)
	r := MerkleLeaf(txid)
	for _, sib := range p.Path {
		if sn == 0 {
			return ZeroHash, ErrMerkleProof
		}
		if fn&1 == 1 || fn == sn {
			r = MerkleNode(sib, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = MerkleNode(r, sib)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return ZeroHash, ErrMerkleProof
	}
	return r, nil
}

// Verify reports whether the proof shows txid under root.
func (p *MerkleProof) Verify(txid, root Hash) error {
	r, err := p.RootFromProof(txid)
	if err != nil {
		return err
	}
	if r != root {
		return ErrMerkleProof
	}
	return nil
}

// TxProof is the self-contained proof that gettxoutproof returns: a block
// header, a txid and the audit path from it to the header's Merkle root.
type TxProof struct {
	Header Header
	TxID   Hash
	Proof  MerkleProof
}

// Encode returns header | txid | index u32 | leaf_count u32 | varint n | n hashes.
func (p *TxProof) Encode() []byte {
	b := make([]byte, 0, HeaderSize+HashSize+9+len(p.Proof.Path)*HashSize)
	b = append(b, p.Header.Encode()...)
	b = append(b, p.TxID[:]...)
	b = binary.LittleEndian.AppendUint32(b, p.Proof.Index)
	b = binary.LittleEndian.AppendUint32(b, p.Proof.LeafCount)
	b = binary.AppendUvarint(b, uint64(len(p.Proof.Path)))
	for _, h := range p.Proof.Path {
		b = append(b, h[:]...)
	}
	return b
}

// DecodeTxProof decodes a TxProof and rejects trailing bytes.
func DecodeTxProof(b []byte) (*TxProof, error) {
	r := &reader{b: b}
	p := &TxProof{}
	if s := r.take(HeaderSize); s != nil {
		p.Header, _ = DecodeHeader(s)
	}
	if s := r.take(HashSize); s != nil {
		copy(p.TxID[:], s)
	}
	p.Proof.Index = r.u32()
	p.Proof.LeafCount = r.u32()
	n := r.varint(MaxMerklePath, "merkle path length")
	if r.err == nil && n > 0 {
		p.Proof.Path = make([]Hash, n)
	}
	for i := range p.Proof.Path {
		if s := r.take(HashSize); s != nil {
			copy(p.Proof.Path[i][:], s)
		}
	}
	if r.err == nil && r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
	}
	if r.err != nil {
		return nil, r.err
	}
	return p, nil
}

// Verify checks that the proof's txid is under its header's Merkle root.
// It says nothing about whether the header is on any chain.
func (p *TxProof) Verify() error { return p.Proof.Verify(p.TxID, p.Header.MerkleRoot) }
