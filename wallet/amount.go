package wallet

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// BaseUnitsPerTally is the number of base units in one TALLY.
const BaseUnitsPerTally = 100_000_000

// AmountDecimals is the number of decimal places a TALLY amount may have.
const AmountDecimals = 8

// BaseSuffix marks an amount given in base units rather than TALLY.
const BaseSuffix = "base"

// ErrBadAmount is wrapped by every ParseAmount error.
var ErrBadAmount = errors.New("invalid amount")

// ParseAmount parses an amount typed by a user and returns it in base
// units. Two forms are accepted, with no sign, spaces, exponent or
// thousands separators:
//
//   - decimal TALLY: ASCII digits, optionally a '.' and 1 to 8 more digits
//     ("21", "1.5", "0.00000001"); a '.' needs digits on both sides;
//   - base units: ASCII digits followed by the suffix "base"
//     ("150000000base" is 1.5 TALLY). No other suffix (such as "sat") is
//     accepted.
//
// Zero parses to 0; callers that need a positive amount check for it.
// Amounts above the largest uint64 are refused; whether an amount fits the
// network's max_money is for the caller to check.
func ParseAmount(s string) (uint64, error) {
	bad := func(format string, args ...any) (uint64, error) {
		return 0, fmt.Errorf("%w %q: %s", ErrBadAmount, s, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return bad("empty")
	}
	if num, ok := strings.CutSuffix(s, BaseSuffix); ok {
		if num == "" {
			return bad("no digits before %q", BaseSuffix)
		}
		if i := firstNonDigit(num); i >= 0 {
			return bad("base units must be a whole number of ASCII digits before %q (found %q)", BaseSuffix, num[i])
		}
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return bad("too large")
		}
		return v, nil
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" {
		return bad("no digits before the decimal point")
	}
	if i := firstNonDigit(whole); i >= 0 {
		return bad("unexpected %q: write TALLY as digits with an optional '.' and up to %d decimals, or base units with the suffix %q", whole[i], AmountDecimals, BaseSuffix)
	}
	if hasDot {
		if frac == "" {
			return bad("no digits after the decimal point")
		}
		if i := firstNonDigit(frac); i >= 0 {
			return bad("unexpected %q after the decimal point", frac[i])
		}
		if len(frac) > AmountDecimals {
			return bad("more than %d decimals (the smallest unit is 0.00000001)", AmountDecimals)
		}
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > math.MaxUint64/BaseUnitsPerTally {
		return bad("too large")
	}
	var f uint64
	if hasDot {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", AmountDecimals-len(frac)), 10, 64)
	}
	v, carry := bits.Add64(w*BaseUnitsPerTally, f, 0)
	if carry != 0 {
		return bad("too large")
	}
	return v, nil
}

// firstNonDigit returns the index of the first byte of s that is not an
// ASCII digit, or -1.
func firstNonDigit(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return i
		}
	}
	return -1
}

// FormatAmount prints base units as decimal TALLY with at most 8 decimals
// and no trailing zeros: "21", "1.5", "0.00000001". ParseAmount reads it
// back.
func FormatAmount(v uint64) string {
	whole, frac := v/BaseUnitsPerTally, v%BaseUnitsPerTally
	if frac == 0 {
		return strconv.FormatUint(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%08d", frac), "0")
	return strconv.FormatUint(whole, 10) + "." + f
}
