package consensus

import (
	"bytes"
	"math/big"

	"tally/wire"
)

// Compact targets ("bits") use Bitcoin's nBits format: the high byte is a
// size in bytes, the low 23 bits a mantissa and bit 23 a sign. The value is
// mantissa * 256^(size-3).
const (
	compactSignBit  = 0x00800000
	compactMantissa = 0x007fffff
)

var (
	bigOne    = big.NewInt(1)
	twoTo256  = new(big.Int).Lsh(bigOne, 256)
	maxTarget = new(big.Int).Sub(twoTo256, bigOne) // largest 256-bit value
)

// CompactToBig returns the number that bits encodes, with Bitcoin's
// semantics: the sign bit makes a non-zero value negative and nothing
// bounds its size. Consensus code wants CompactToTarget, which refuses
// what is not a valid target.
func CompactToBig(bits uint32) *big.Int {
	size := uint(bits >> 24)
	mantissa := int64(bits & compactMantissa)
	n := new(big.Int)
	if size <= 3 {
		n.SetInt64(mantissa >> (8 * (3 - size)))
	} else {
		n.SetInt64(mantissa)
		n.Lsh(n, 8*(size-3))
	}
	if bits&compactSignBit != 0 {
		n.Neg(n)
	}
	return n
}

// targetBytes writes the target that bits encodes into t as a 256-bit
// big-endian number, refusing a negative, zero or overflowing value with
// Bitcoin Core's overflow rule (the value does not fit in 256 bits). It
// allocates nothing.
func targetBytes(bits uint32, t *[32]byte) error {
	size := int(bits >> 24)
	word := bits & compactMantissa
	if size <= 3 {
		word >>= 8 * uint(3-size)
	}
	switch {
	case word == 0:
		return ruleErr(ErrBadTarget, "bits %08x encode a zero target", bits)
	case bits&compactSignBit != 0:
		return ruleErr(ErrBadTarget, "bits %08x encode a negative target", bits)
	case size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32):
		return ruleErr(ErrBadTarget, "bits %08x encode a target over 256 bits", bits)
	}
	*t = [32]byte{}
	if size <= 3 {
		size = 3
	}
	// The mantissa's least significant byte has weight 256^(size-3), so it
	// sits at index 31-(size-3); the overflow check above guarantees that
	// bytes falling before index 0 are zero.
	for i, b := range [3]byte{byte(word >> 16), byte(word >> 8), byte(word)} {
		if j := 32 - size + i; j >= 0 {
			t[j] = b
		}
	}
	return nil
}

// CompactToTarget returns the target that bits encodes. A negative, zero or
// overflowing (more than 256 bits) target is an ErrBadTarget rule error.
func CompactToTarget(bits uint32) (*big.Int, error) {
	var t [32]byte
	if err := targetBytes(bits, &t); err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(t[:]), nil
}

// BigToCompact returns the compact form of n, rounding its magnitude down
// to the three most significant bytes (two if the top byte would set the
// sign bit). It is the inverse of CompactToBig for every value CompactToBig
// returns from a canonical encoding. n must be below 256^252.
func BigToCompact(n *big.Int) uint32 {
	if n.Sign() == 0 {
		return 0
	}
	var mag big.Int
	mag.Abs(n)
	size := uint((mag.BitLen() + 7) / 8)
	var mantissa uint32
	if size <= 3 {
		mantissa = uint32(mag.Uint64()) << (8 * (3 - size))
	} else {
		mag.Rsh(&mag, 8*(size-3))
		mantissa = uint32(mag.Uint64())
	}
	if mantissa&compactSignBit != 0 {
		mantissa >>= 8
		size++
	}
	compact := uint32(size)<<24 | mantissa
	if n.Sign() < 0 {
		compact |= compactSignBit
	}
	return compact
}

// CalcWork returns the work of a block with these bits, 2^256 / (target+1).
// An invalid target (negative, zero or over 256 bits) has zero work.
func CalcWork(bits uint32) *big.Int {
	target, err := CompactToTarget(bits)
	if err != nil {
		return new(big.Int)
	}
	target.Add(target, bigOne)
	return target.Quo(twoTo256, target)
}

// HashToBig reads a block id as a 256-bit big-endian number, the way proof
// of work compares it with the target.
func HashToBig(id wire.Hash) *big.Int {
	return new(big.Int).SetBytes(id[:])
}

// CheckProofOfWork checks that bits encode a valid target no easier than
// powLimit (ErrBadTarget) and that id, read as a big-endian number, is at
// most that target (ErrBadPoW). It allocates nothing on success.
func CheckProofOfWork(id wire.Hash, bits uint32, powLimit *big.Int) error {
	var target, limit [32]byte
	if err := targetBytes(bits, &target); err != nil {
		return err
	}
	if powLimit.Sign() <= 0 || powLimit.Cmp(maxTarget) > 0 {
		return ruleErr(ErrBadTarget, "pow limit %x is not a 256-bit target", powLimit)
	}
	powLimit.FillBytes(limit[:])
	if bytes.Compare(target[:], limit[:]) > 0 {
		return ruleErr(ErrBadTarget, "bits %08x: target above the pow limit", bits)
	}
	if bytes.Compare(id[:], target[:]) > 0 {
		return ruleErr(ErrBadPoW, "block id %s above the target of bits %08x", id, bits)
	}
	return nil
}
