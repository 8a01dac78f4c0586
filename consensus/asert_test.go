package consensus

import (
	"bufio"
	"bytes"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// asertVectorDir holds the published aserti3-2d test vectors (format in its
// README.md).
const asertVectorDir = "../../shared/testdata/asert"

type asertVector struct {
	height uint64
	time   int64
	bits   uint32
}

type asertRun struct {
	name             string
	anchorHeight     uint64
	anchorParentTime int64
	anchorBits       uint32
	iterations       int
	vectors          []asertVector
}

func parseHexBits(s string) (uint32, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	return uint32(v), err
}

func parseASERTRun(t *testing.T, path string) asertRun {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	run := asertRun{name: filepath.Base(path), iterations: -1}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s:%d: "+format, append([]any{run.name, line}, args...)...)
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case strings.TrimSpace(text) == "", strings.HasPrefix(text, "# "):
			continue
		case strings.HasPrefix(text, "##"):
			key, val, ok := strings.Cut(strings.TrimPrefix(text, "##"), ":")
			if !ok {
				fail("header line without a colon")
			}
			key, val = strings.TrimSpace(key), strings.TrimSpace(val)
			var err error
			switch key {
			case "anchor height":
				run.anchorHeight, err = strconv.ParseUint(val, 10, 64)
			case "anchor ancestor time", "anchor parent time":
				run.anchorParentTime, err = strconv.ParseInt(val, 10, 64)
			case "anchor nBits":
				run.anchorBits, err = parseHexBits(val)
			case "iterations":
				run.iterations, err = strconv.Atoi(val)
			}
			if err != nil {
				fail("header %q: %v", key, err)
			}
			continue
		}
		f := strings.Fields(text)
		if len(f) != 4 {
			fail("want 4 fields, got %q", text)
		}
		var v asertVector
		h, err1 := strconv.ParseUint(f[1], 10, 64)
		tm, err2 := strconv.ParseInt(f[2], 10, 64)
		bits, err3 := parseHexBits(f[3])
		if err1 != nil || err2 != nil || err3 != nil {
			fail("bad data line %q", text)
		}
		v.height, v.time, v.bits = h, tm, bits
		run.vectors = append(run.vectors, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if run.anchorBits == 0 || run.iterations != len(run.vectors) {
		t.Fatalf("%s: header says %d iterations, read %d vectors (anchor bits %08x)",
			run.name, run.iterations, len(run.vectors), run.anchorBits)
	}
	return run
}

func loadASERTRuns(t *testing.T) []asertRun {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(asertVectorDir, "run*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no ASERT vectors found in %s", asertVectorDir)
	}
	runs := make([]asertRun, 0, len(files))
	for _, f := range files {
		runs = append(runs, parseASERTRun(t, f))
	}
	return runs
}

// BCH mainnet ASERT constants, which every published vector uses.
const (
	bchSpacing  = 600
	bchHalfLife = 172800
	bchPowLimit = 0x1d00ffff
)

// TestASERTVectors checks CalculateASERT against every published vector.
// Each vector gives the evaluation block (the parent) and the bits of the
// block after it.
func TestASERTVectors(t *testing.T) {
	powLimit := CompactToBig(bchPowLimit)
	total := 0
	for _, run := range loadASERTRuns(t) {
		ref := CompactToBig(run.anchorBits)
		for i, v := range run.vectors {
			got := BigToCompact(CalculateASERT(ref, powLimit, bchSpacing,
				v.time-run.anchorParentTime, v.height-run.anchorHeight, bchHalfLife))
			if got != v.bits {
				t.Fatalf("%s iteration %d (height %d, time %d): bits %08x, want %08x",
					run.name, i+1, v.height, v.time, got, v.bits)
			}
			total++
		}
	}
	t.Logf("%d ASERT vectors passed", total)
}

// TestNextBitsVectors replays the vectors through NextBits by anchoring a
// network at each run's anchor: genesis bits = anchor bits, genesis time =
// anchor parent time + spacing, heights counted from the anchor.
func TestNextBitsVectors(t *testing.T) {
	for _, run := range loadASERTRuns(t) {
		if run.anchorParentTime+bchSpacing <= 0 {
			continue
		}
		p := &Params{
			GenesisBits:   run.anchorBits,
			GenesisTime:   uint64(run.anchorParentTime + bchSpacing),
			PowLimitBits:  bchPowLimit,
			PowLimit:      CompactToBig(bchPowLimit),
			TargetSpacing: bchSpacing,
			AsertHalfLife: bchHalfLife,
		}
		for i, v := range run.vectors {
			if got := NextBits(p, v.height-run.anchorHeight, uint64(v.time)); got != v.bits {
				t.Fatalf("%s iteration %d: NextBits = %08x, want %08x", run.name, i+1, got, v.bits)
			}
		}
	}
}

func TestNextBitsNetworks(t *testing.T) {
	pub, err := Default(false)
	if err != nil {
		t.Fatal(err)
	}
	// On schedule at the pow limit the target stays put.
	for h := uint64(0); h < 5; h++ {
		if got := NextBits(pub, h, pub.GenesisTime+h*uint64(pub.TargetSpacing)); got != pub.GenesisBits {
			t.Errorf("public NextBits(%d) on schedule = %08x, want %08x", h, got, pub.GenesisBits)
		}
	}
	// Blocks arriving fast make it harder; slow blocks cannot go past the limit.
	fast := NextBits(pub, 1000, pub.GenesisTime+1000)
	if CompactToBig(fast).Cmp(pub.PowLimit) >= 0 {
		t.Errorf("fast blocks: bits %08x not harder than the limit", fast)
	}
	if got := NextBits(pub, 1, pub.GenesisTime+1e9); got != pub.PowLimitBits {
		t.Errorf("slow blocks: bits %08x, want the limit %08x", got, pub.PowLimitBits)
	}
	// Extreme inputs saturate instead of overflowing.
	if got := NextBits(pub, ^uint64(0), 0); got != 0x01010000 {
		t.Errorf("huge height: bits %08x, want 01010000", got)
	}
	if got := NextBits(pub, 0, ^uint64(0)); got != pub.PowLimitBits {
		t.Errorf("huge time: bits %08x, want the limit", got)
	}

	dev, err := Default(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []uint64{0, 1, 1000, 1 << 40} {
		if got := NextBits(dev, h, dev.GenesisTime+1); got != dev.GenesisBits {
			t.Errorf("dev NextBits(%d) = %08x, want the genesis bits %08x", h, got, dev.GenesisBits)
		}
	}
}

func TestCalculateASERTSaturates(t *testing.T) {
	limit := CompactToBig(bchPowLimit)
	ref := CompactToBig(0x1802aee8)
	cases := []struct {
		timeDiff   int64
		heightDiff uint64
		want       *big.Int
	}{
		{-1 << 62, 0, big.NewInt(1)},
		{1 << 62, 0, limit},
		{0, ^uint64(0), big.NewInt(1)},
		{0, ^uint64(0) - 1, big.NewInt(1)},
		{1 << 62, 1 << 50, limit},
		{1 << 62, 1 << 60, big.NewInt(1)},
	}
	for _, c := range cases {
		if got := CalculateASERT(ref, limit, bchSpacing, c.timeDiff, c.heightDiff, bchHalfLife); got.Cmp(c.want) != 0 {
			t.Errorf("CalculateASERT(time %d, height %d) = %x, want %x", c.timeDiff, c.heightDiff, got, c.want)
		}
	}
	// The fast and slow exponent paths agree where both apply.
	for _, td := range []int64{-1 << 45, -123456789, -1, 0, 1, 599, 600, 987654321, 1 << 45} {
		for _, hd := range []uint64{0, 1, 2, 1000, 1 << 30} {
			s1, f1 := asertExponent(bchSpacing, td, hd, bchHalfLife)
			s2, f2 := asertExponentBig(bchSpacing, td, hd, bchHalfLife)
			if s1 != s2 || f1 != f2 {
				t.Errorf("exponent(%d, %d): fast %d/%d, slow %d/%d", td, hd, s1, f1, s2, f2)
			}
		}
	}
}
