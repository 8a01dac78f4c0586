package consensus

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"tally/wire"
)

func hexBig(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex %q", s)
	}
	return n
}

// TestCompactBitcoinCore runs the SetCompact/GetCompact cases of Bitcoin
// Core's arith_uint256_tests.
func TestCompactBitcoinCore(t *testing.T) {
	tests := []struct {
		bits    uint32
		value   string // hex magnitude
		neg     bool
		compact uint32 // BigToCompact(CompactToBig(bits))
	}{
		{0x00000000, "0", false, 0},
		{0x00123456, "0", false, 0},
		{0x01003456, "0", false, 0},
		{0x02000056, "0", false, 0},
		{0x03000000, "0", false, 0},
		{0x04000000, "0", false, 0},
		{0x00923456, "0", false, 0},
		{0x01803456, "0", false, 0},
		{0x02800056, "0", false, 0},
		{0x03800000, "0", false, 0},
		{0x04800000, "0", false, 0},
		{0x01123456, "12", false, 0x01120000},
		{0x01fedcba, "7e", true, 0x01fe0000},
		{0x02123456, "1234", false, 0x02123400},
		{0x03123456, "123456", false, 0x03123456},
		{0x04123456, "12345600", false, 0x04123456},
		{0x04923456, "12345600", true, 0x04923456},
		{0x05009234, "92340000", false, 0x05009234},
		{0x20123456, "1234560000000000000000000000000000000000000000000000000000000000", false, 0x20123456},
		{0x1d00ffff, "ffff0000000000000000000000000000000000000000000000000000", false, 0x1d00ffff},
	}
	for _, tc := range tests {
		want := hexBig(t, tc.value)
		if tc.neg {
			want.Neg(want)
		}
		got := CompactToBig(tc.bits)
		if got.Cmp(want) != 0 {
			t.Errorf("CompactToBig(%08x) = %x, want %x", tc.bits, got, want)
		}
		if c := BigToCompact(got); c != tc.compact {
			t.Errorf("BigToCompact(CompactToBig(%08x)) = %08x, want %08x", tc.bits, c, tc.compact)
		}
		_, err := CompactToTarget(tc.bits)
		if valid := want.Sign() > 0; valid != (err == nil) {
			t.Errorf("CompactToTarget(%08x) error %v, want valid=%v", tc.bits, err, valid)
		}
	}
	// Bitcoin Core: SetCompact(0xff123456) overflows.
	if _, err := CompactToTarget(0xff123456); !errors.Is(err, ErrBadTarget) {
		t.Errorf("CompactToTarget(ff123456) = %v, want ErrBadTarget", err)
	}
}

func TestCompactToTargetErrors(t *testing.T) {
	for _, bits := range []uint32{
		0x00000000, 0x03000000, 0x01003456, // zero
		0x04923456, 0x1d80ffff, 0x01fedcba, // negative
		0x23000001, 0x22000100, 0x21010000, 0xff123456, // over 256 bits
	} {
		if _, err := CompactToTarget(bits); !errors.Is(err, ErrBadTarget) {
			t.Errorf("CompactToTarget(%08x) = %v, want ErrBadTarget", bits, err)
		}
	}
	// The largest encodable targets just fit in 256 bits.
	for _, bits := range []uint32{0x220000ff, 0x2100ffff, 0x207fffff} {
		n, err := CompactToTarget(bits)
		if err != nil || n.Cmp(CompactToBig(bits)) != 0 || n.BitLen() > 256 {
			t.Errorf("CompactToTarget(%08x) = %x, %v", bits, n, err)
		}
	}
}

// truncateCompact is the reference for what survives a round trip through
// the compact form: the top three bytes of n, or the top two when the top
// byte has its high bit set.
func truncateCompact(n *big.Int) *big.Int {
	size := (n.BitLen() + 7) / 8
	keep := 3
	if size <= 3 {
		v := new(big.Int).Lsh(n, uint(8*(3-size)))
		if v.Bit(23) == 1 {
			keep = 2
		}
	} else if new(big.Int).Rsh(n, uint(8*(size-3))).Bit(23) == 1 {
		keep = 2
	}
	drop := max(size-keep, 0)
	out := new(big.Int).Rsh(n, uint(8*drop))
	return out.Lsh(out, uint(8*drop))
}

func TestCompactRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf [32]byte
	for i := 0; i < 20000; i++ {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		n := new(big.Int).SetBytes(buf[:])
		n.Rsh(n, uint(rng.IntN(256))) // every bit length
		if n.Sign() == 0 {
			continue
		}
		c := BigToCompact(n)
		got := CompactToBig(c)
		want := truncateCompact(n)
		if got.Cmp(want) != 0 {
			t.Fatalf("CompactToBig(BigToCompact(%x)) = %x (bits %08x), want %x", n, got, c, want)
		}
		if c&compactSignBit != 0 {
			t.Fatalf("BigToCompact(%x) = %08x sets the sign bit", n, c)
		}
		if BigToCompact(got) != c {
			t.Fatalf("compact form of %x not stable: %08x then %08x", n, c, BigToCompact(got))
		}
		if tgt, err := CompactToTarget(c); err != nil || tgt.Cmp(got) != 0 {
			t.Fatalf("CompactToTarget(%08x) = %x, %v; want %x", c, tgt, err, got)
		}
		neg := new(big.Int).Neg(n)
		if c2 := BigToCompact(neg); c2 != c|compactSignBit {
			t.Fatalf("BigToCompact(-%x) = %08x, want %08x", n, c2, c|compactSignBit)
		}
	}
}

func TestCalcWork(t *testing.T) {
	// Bitcoin's genesis bits: 2^256 / (0xffff * 2^208 + 1) = 0x100010001.
	if w := CalcWork(0x1d00ffff); w.Cmp(big.NewInt(0x100010001)) != 0 {
		t.Errorf("CalcWork(1d00ffff) = %x, want 100010001", w)
	}
	if w := CalcWork(0x207fffff); w.Cmp(big.NewInt(2)) != 0 {
		t.Errorf("CalcWork(207fffff) = %v, want 2", w)
	}
	for _, bits := range []uint32{0, 0x04923456, 0xff123456} {
		if w := CalcWork(bits); w.Sign() != 0 {
			t.Errorf("CalcWork(%08x) = %v, want 0", bits, w)
		}
	}
	// Property: the work is floor(2^256 / (target+1)).
	rng := rand.New(rand.NewPCG(3, 4))
	two256 := new(big.Int).Lsh(big.NewInt(1), 256)
	for i := 0; i < 5000; i++ {
		bits := uint32(rng.IntN(33)+1)<<24 | uint32(rng.IntN(0x800000))
		target, err := CompactToTarget(bits)
		if err != nil {
			continue
		}
		w := CalcWork(bits)
		d := new(big.Int).Add(target, big.NewInt(1))
		lo := new(big.Int).Mul(w, d)
		hi := new(big.Int).Add(lo, d)
		if lo.Cmp(two256) > 0 || hi.Cmp(two256) <= 0 {
			t.Fatalf("CalcWork(%08x) = %x is not floor(2^256/(target+1))", bits, w)
		}
	}
}

func TestHashToBig(t *testing.T) {
	var id wire.Hash
	id[0], id[31] = 0x01, 0x02
	want := new(big.Int).Lsh(big.NewInt(1), 248)
	want.Add(want, big.NewInt(2))
	if got := HashToBig(id); got.Cmp(want) != 0 {
		t.Errorf("HashToBig = %x, want %x", got, want)
	}
}

func TestCheckProofOfWork(t *testing.T) {
	limit := CompactToBig(0x1f00ffff)
	target := CompactToBig(0x1e123456)
	idOf := func(n *big.Int) wire.Hash {
		var h wire.Hash
		n.FillBytes(h[:])
		return h
	}
	plusOne := new(big.Int).Add(target, big.NewInt(1))
	tests := []struct {
		name string
		id   wire.Hash
		bits uint32
		want error
	}{
		{"zero id", wire.ZeroHash, 0x1e123456, nil},
		{"id equals target", idOf(target), 0x1e123456, nil},
		{"id one above target", idOf(plusOne), 0x1e123456, ErrBadPoW},
		{"all ones id", idOf(maxTarget), 0x1e123456, ErrBadPoW},
		{"target at limit", idOf(limit), 0x1f00ffff, nil},
		{"target above limit", wire.ZeroHash, 0x1f010000, ErrBadTarget},
		{"negative target", wire.ZeroHash, 0x1e923456, ErrBadTarget},
		{"zero target", wire.ZeroHash, 0x1e000000, ErrBadTarget},
		{"overflowing target", wire.ZeroHash, 0xff123456, ErrBadTarget},
	}
	for _, tc := range tests {
		err := CheckProofOfWork(tc.id, tc.bits, limit)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: CheckProofOfWork = %v, want %v", tc.name, err, tc.want)
		}
		var re *RuleError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("%s: %v is not a *RuleError", tc.name, err)
		}
	}
	id := idOf(target)
	if n := testing.AllocsPerRun(100, func() { _ = CheckProofOfWork(id, 0x1e123456, limit) }); n != 0 {
		t.Errorf("CheckProofOfWork allocates %v times per call", n)
	}
}

func BenchmarkCheckProofOfWork(b *testing.B) {
	limit := CompactToBig(0x1f00ffff)
	for b.Loop() {
		_ = CheckProofOfWork(wire.ZeroHash, 0x1e123456, limit)
	}
}
