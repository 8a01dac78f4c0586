package consensus

import "testing"

func TestSubsidy(t *testing.T) {
	p := &Params{InitialSubsidy: 5000000000, HalvingInterval: 210000}
	tests := []struct {
		height uint64
		want   uint64
	}{
		{0, 5000000000},
		{209999, 5000000000},
		{210000, 2500000000},
		{420000, 1250000000},
		{32 * 210000, 1},   // 5e9 >> 32 = 1
		{33 * 210000, 0},   // 5e9 >> 33 = 0
		{63*210000 + 5, 0}, // last shift below 64
		{64 * 210000, 0},   // shift 64 would be undefined: 0
		{1000 * 210000, 0}, // far beyond
		{^uint64(0), 0},    // the largest height
	}
	for _, tc := range tests {
		if got := Subsidy(p, tc.height); got != tc.want {
			t.Errorf("Subsidy(%d) = %d, want %d", tc.height, got, tc.want)
		}
	}

	// With the largest subsidy every shift below 64 keeps bits, and 64
	// halvings give 0 rather than Go's x >> 64 == 0 by accident of types.
	q := &Params{InitialSubsidy: ^uint64(0), HalvingInterval: 1}
	for h := uint64(0); h < 64; h++ {
		if got, want := Subsidy(q, h), ^uint64(0)>>h; got != want {
			t.Errorf("Subsidy(max, %d) = %d, want %d", h, got, want)
		}
	}
	for _, h := range []uint64{64, 65, 1 << 40} {
		if got := Subsidy(q, h); got != 0 {
			t.Errorf("Subsidy(max, %d) = %d, want 0", h, got)
		}
	}

	// The public network's subsidy schedule issues at most max_money.
	// (max_money bounds amounts, as Bitcoin's MAX_MONEY does; the genesis
	// allocations come on top of the schedule.)
	pub, err := Default(false)
	if err != nil {
		t.Fatal(err)
	}
	total := uint64(0)
	for era := uint64(0); era < 64; era++ {
		total += Subsidy(pub, era*pub.HalvingInterval) * pub.HalvingInterval
	}
	if total > pub.MaxMoney {
		t.Errorf("public subsidy schedule issues %d, over max_money %d", total, pub.MaxMoney)
	}
}
