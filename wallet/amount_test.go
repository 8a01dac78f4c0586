package wallet

import (
	"errors"
	"math"
	"testing"
)

func TestParseAmount(t *testing.T) {
	valid := []struct {
		in   string
		want uint64
	}{
		{"21", 21 * BaseUnitsPerTally},
		{"1.5", 150_000_000},
		{"0.00000001", 1},
		{"0", 0},
		{"0.0", 0},
		{"007.10", 710_000_000},
		{"21000000", 21_000_000 * BaseUnitsPerTally},
		{"150000000base", 150_000_000},
		{"1base", 1},
		{"0base", 0},
		{"18446744073709551615base", math.MaxUint64},
		{"184467440737.09551615", math.MaxUint64},
		{"184467440737", 184467440737 * BaseUnitsPerTally},
	}
	for _, c := range valid {
		got, err := ParseAmount(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	invalid := []string{
		"", "-1", "+1", "1e8", "1E8", "0x10", "1.", ".5", ".", "1.000000001",
		"0.123456789", "1,5", "1,000", " 1", "1 ", "1.5 ", "abc", "1.5TALLY",
		"150000000 base", "150000000sat", "base", "1.5base", "-5base",
		"184467440737.09551616", "184467440738", "18446744073709551616base",
		"99999999999999999999999", "1..5", "1.5.5", "١", "NaN", "Inf",
	}
	for _, in := range invalid {
		got, err := ParseAmount(in)
		if !errors.Is(err, ErrBadAmount) {
			t.Errorf("ParseAmount(%q) = %d, %v; want ErrBadAmount", in, got, err)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	cases := []struct {
		in   uint64
		want string
	}{
		{0, "0"},
		{1, "0.00000001"},
		{10, "0.0000001"},
		{150_000_000, "1.5"},
		{21 * BaseUnitsPerTally, "21"},
		{123_456_789, "1.23456789"},
		{math.MaxUint64, "184467440737.09551615"},
	}
	for _, c := range cases {
		got := FormatAmount(c.in)
		if got != c.want {
			t.Errorf("FormatAmount(%d) = %q, want %q", c.in, got, c.want)
		}
		back, err := ParseAmount(got)
		if err != nil || back != c.in {
			t.Errorf("ParseAmount(FormatAmount(%d)) = %d, %v", c.in, back, err)
		}
	}
	// Round trip over a spread of values.
	for v := uint64(1); v < math.MaxUint64/3; v = v*3 + 7 {
		back, err := ParseAmount(FormatAmount(v))
		if err != nil || back != v {
			t.Fatalf("round trip of %d: %d, %v", v, back, err)
		}
	}
}
