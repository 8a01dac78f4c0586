package consensus

import (
	"math"
	"math/big"
	"math/bits"
)

// NextBits returns the bits that the block after the given parent must
// carry: aserti3-2d (Bitcoin Cash, 2020-11-15) anchored at the genesis
// block. The anchor is height 0 with the genesis bits, and its parent time
// is the genesis time minus target_spacing_seconds. A half-life of 0 turns
// retargeting off: every block carries the genesis bits.
func NextBits(params *Params, parentHeight uint64, parentTime uint64) uint32 {
	if params.AsertHalfLife <= 0 {
		return params.GenesisBits
	}
	refTarget := CompactToBig(params.GenesisBits)
	powLimit := params.PowLimit
	if powLimit == nil {
		powLimit = CompactToBig(params.PowLimitBits)
	}
	anchorParentTime := int64(params.GenesisTime) - params.TargetSpacing
	target := CalculateASERT(refTarget, powLimit, params.TargetSpacing,
		timeDiff(parentTime, anchorParentTime), parentHeight, params.AsertHalfLife)
	return BigToCompact(target)
}

// timeDiff returns t - anchor, saturated to ±2^62. LoadGenesis bounds the
// genesis time, so anchor is far from the int64 limits; a difference beyond
// 2^62 seconds saturates the ASERT result either way.
func timeDiff(t uint64, anchor int64) int64 {
	const limit = 1 << 62
	if t > limit {
		return limit
	}
	d := int64(t) - anchor
	return min(max(d, -limit), limit)
}

// CalculateASERT returns the aserti3-2d target exactly as the Bitcoin Cash
// specification and its reference implementation compute it:
//
//	exponent = (timeDiff - targetSpacing*(heightDiff+1)) * 65536 / halfLife
//	           (integer division truncating toward zero)
//	shifts   = exponent >> 16 (floor), frac = exponent - shifts*65536
//	factor   = 65536 + ((195766423245049*frac + 971821376*frac^2 +
//	           5127*frac^3 + 2^47) >> 48)   (in uint64)
//	target   = refTarget * factor * 2^shifts / 65536
//
// then clamped to [1, powLimit]. timeDiff is the evaluated block's time
// minus the anchor's parent time and heightDiff its height minus the
// anchor's height. Products are exact (math/big), so neither a large height
// difference nor a negative time difference overflows. refTarget must be
// positive; halfLife must be positive (otherwise refTarget is returned).
func CalculateASERT(refTarget *big.Int, powLimit *big.Int, targetSpacing, timeDiff int64, heightDiff uint64, halfLife int64) *big.Int {
	if halfLife <= 0 {
		return new(big.Int).Set(refTarget)
	}
	shifts, frac := asertExponent(targetSpacing, timeDiff, heightDiff, halfLife)

	f := uint64(frac)
	factor := 65536 + ((195766423245049*f + 971821376*f*f + 5127*f*f*f + 1<<47) >> 48)

	next := new(big.Int).SetUint64(factor)
	next.Mul(next, refTarget)
	shifts -= 16
	if shifts <= 0 {
		next.Rsh(next, uint(-shifts))
	} else {
		next.Lsh(next, uint(shifts))
	}
	if next.Sign() == 0 {
		return next.SetInt64(1)
	}
	if next.Cmp(powLimit) > 0 {
		return next.Set(powLimit)
	}
	return next
}

// maxASERTShift bounds the integer part of the exponent. Targets are below
// 2^256 and at least 1, so any shift beyond ±512 already saturates the result
// at 1 or at the pow limit; clamping keeps the shift amounts small.
const maxASERTShift = 512

// asertExponent returns the 16.16 fixed-point exponent split into its
// floored integer part (clamped to ±maxASERTShift) and fractional part.
func asertExponent(targetSpacing, timeDiff int64, heightDiff uint64, halfLife int64) (int64, uint16) {
	// Fast path: every intermediate fits in an int64.
	const small = 1 << 46
	if hi, lo := bits.Mul64(uint64(max(targetSpacing, 0)), heightDiff+1); targetSpacing >= 0 &&
		heightDiff < math.MaxUint64 && hi == 0 && lo < small && timeDiff > -small && timeDiff < small {
		exponent := (timeDiff - int64(lo)) * 65536 / halfLife
		return min(max(exponent>>16, -maxASERTShift), maxASERTShift), uint16(exponent)
	}
	return asertExponentBig(targetSpacing, timeDiff, heightDiff, halfLife)
}

// asertExponentBig is asertExponent on unbounded integers.
func asertExponentBig(targetSpacing, timeDiff int64, heightDiff uint64, halfLife int64) (int64, uint16) {
	num := new(big.Int).SetUint64(heightDiff)
	num.Add(num, bigOne)
	num.Mul(num, big.NewInt(targetSpacing))
	num.Sub(big.NewInt(timeDiff), num)
	num.Lsh(num, 16)
	num.Quo(num, big.NewInt(halfLife))  // truncated, as C++ integer division
	shifts := new(big.Int).Rsh(num, 16) // arithmetic shift: floor
	frac := uint16(new(big.Int).Sub(num, new(big.Int).Lsh(shifts, 16)).Uint64())
	s := int64(maxASERTShift)
	if shifts.IsInt64() {
		s = min(max(shifts.Int64(), -maxASERTShift), maxASERTShift)
	} else if shifts.Sign() < 0 {
		s = -maxASERTShift
	}
	return s, frac
}
