package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"tally/wire"
)

// goldenTxHex is the encoding of goldenTx, one field per line (SPEC 2).
const goldenTxHex = "" +
	"01000000" + // version 1
	"01" + // n_in
	"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20" + // prev_txid
	"02000000" + // prev_index 2
	"02303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f" + // pubkey
	"505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f" + // sig r
	"707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f" + // sig s
	"02" + // n_out
	"00f2052a01000000" + "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3" + // 50 TALLY
	"0100000000000000" + "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3" + // 1 base unit
	"6400000000000000" + // lock_time 100
	"02" + "6869" // extra "hi"

const goldenTxID = "c347741d7ad71b0ebfcb5a62d8980060c12c223e6954d82803d96f50fe674abd"

// goldenBlockHex is the encoding of goldenBlock.
const goldenBlockHex = "" +
	"01000000" + // version 1
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff" + // prev block
	"f84170a5204317ea57e1b32e788bbc3c77b62261cfbcda36b44c9ed4fc6da1fd" + // Merkle root
	"00f1536500000000" + // time 1700000000
	"ffff7f20" + // bits 0x207fffff
	"2a00000000000000" + // nonce 42
	"02" + // tx count
	"01000000" + "00" + "01" + // coinbase: version, n_in 0, n_out 1
	"00f2052a01000000" + "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3" +
	"0000000000000000" + // lock_time 0
	"0d" + "0500000000000000" + "74616c6c79" + // extra: height 5, "tally"
	goldenTxHex

const (
	goldenBlockID    = "52a18843d92d67405d86a252880ac5192e2870280e05c718de22180f749ec1d4"
	goldenCoinbaseID = "922e1a561298945116f09730a538c8f58fea0b68e30d4af9bac4b604f62b33ef"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := goldenBlock().Header
	b := h.Encode()
	if len(b) != wire.HeaderSize || wire.HeaderSize != 88 {
		t.Fatalf("header is %d bytes, want 88", len(b))
	}
	// Field offsets from SPEC 2.
	if v := binary.LittleEndian.Uint32(b[0:]); v != 1 {
		t.Errorf("version at 0 = %d", v)
	}
	if !bytes.Equal(b[4:36], h.PrevBlock[:]) || !bytes.Equal(b[36:68], h.MerkleRoot[:]) {
		t.Errorf("prev or Merkle root misplaced")
	}
	if v := binary.LittleEndian.Uint64(b[68:]); v != h.Time {
		t.Errorf("time at 68 = %d", v)
	}
	if v := binary.LittleEndian.Uint32(b[76:]); v != 0x207fffff {
		t.Errorf("bits at 76 = %#x", v)
	}
	if v := binary.LittleEndian.Uint64(b[80:]); v != 42 {
		t.Errorf("nonce at 80 = %d", v)
	}
	got, err := wire.DecodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != h {
		t.Fatalf("DecodeHeader = %+v, want %+v", got, h)
	}
	if id := h.BlockID(); id != dsha(b) {
		t.Fatalf("BlockID = %s, want H2(header) = %s", id, dsha(b))
	}

	// Every field at its extreme survives the trip.
	max := wire.Header{Version: 1<<32 - 1, Time: 1<<64 - 1, Bits: 1<<32 - 1, Nonce: 1<<64 - 1}
	for i := range max.PrevBlock {
		max.PrevBlock[i], max.MerkleRoot[i] = 0xff, 0xfe
	}
	if got, err := wire.DecodeHeader(max.Encode()); err != nil || got != max {
		t.Fatalf("extreme header: %+v, %v", got, err)
	}
}

func TestDecodeHeaderWrongLength(t *testing.T) {
	good := goldenBlock().Header.Encode()
	for _, n := range []int{0, 1, 80, 87, 89, 96, 176} {
		b := make([]byte, n)
		copy(b, good)
		_, err := wire.DecodeHeader(b)
		wantDecodeErr(t, err, fmt.Sprintf("header of %d bytes", n))
	}
	_, err := wire.DecodeHeader(nil)
	wantDecodeErr(t, err, "nil header")
}

func TestTxRoundTrip(t *testing.T) {
	for name, tx := range sampleTxs() {
		t.Run(name, func(t *testing.T) {
			b := tx.Encode()
			if len(b) != tx.SerializeSize() {
				t.Fatalf("SerializeSize = %d, len(Encode) = %d", tx.SerializeSize(), len(b))
			}
			got, err := wire.DecodeTx(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tx) {
				t.Fatalf("DecodeTx(Encode(tx)) = %+v, want %+v", got, tx)
			}
			if !bytes.Equal(got.Encode(), b) {
				t.Fatal("re-encoding differs")
			}
			if got.TxID() != dsha(b) {
				t.Fatal("TxID is not H2(encoding)")
			}
			if got.IsCoinbase() != (len(tx.Inputs) == 0) {
				t.Fatal("IsCoinbase disagrees with the input count")
			}
			// AppendEncoding appends after existing bytes.
			pre := []byte("prefix")
			if out := tx.AppendEncoding(pre, false); !bytes.Equal(out, cat(pre, b)) {
				t.Fatal("AppendEncoding does not append the encoding")
			}
		})
	}
}

// TestDecodeTxShapes decodes every shape around the one-allocation
// layouts (one or two inputs, up to two outputs) and checks that each
// decodes to what was encoded, and that growing one slice of a decoded
// transaction leaves the other intact.
func TestDecodeTxShapes(t *testing.T) {
	for nIn := range 4 {
		for nOut := range 4 {
			tx := multiInputTx()
			tx.Inputs = tx.Inputs[:0]
			for i := range nIn {
				tx.Inputs = append(tx.Inputs, multiInputTx().Inputs[i%3])
			}
			tx.Outputs = manyOutputsTx(nOut).Outputs
			if nIn == 0 {
				tx.Inputs = nil
			}
			got, err := wire.DecodeTx(tx.Encode())
			if err != nil {
				t.Fatalf("%d in %d out: %v", nIn, nOut, err)
			}
			if !reflect.DeepEqual(got, tx) {
				t.Fatalf("%d in %d out: decoded %+v, want %+v", nIn, nOut, got, tx)
			}
			got.Inputs = append(got.Inputs, wire.TxIn{Sig: [wire.SigSize]byte{1}})
			got.Outputs = append(got.Outputs, wire.TxOut{Amount: 99})
			if !slices.Equal(got.Inputs[:nIn], tx.Inputs) || !slices.Equal(got.Outputs[:nOut], tx.Outputs) {
				t.Fatalf("%d in %d out: appending to one slice changed the other", nIn, nOut)
			}
		}
	}
}

func TestBlockRoundTrip(t *testing.T) {
	big := &wire.Block{Header: goldenBlock().Header}
	big.Txs = append(big.Txs, coinbaseTx(9, "big"))
	for i := range 129 { // 130 txs: a two-byte count
		tx := goldenTx()
		tx.LockTime = uint64(i)
		big.Txs = append(big.Txs, tx)
	}
	big.Header.MerkleRoot = wire.MerkleRoot(big.TxIDs())

	blocks := map[string]*wire.Block{
		"golden": goldenBlock(),
		"many":   big,
		"varied": {Header: goldenBlock().Header, Txs: []*wire.Tx{coinbaseTx(1, ""), multiInputTx(), manyOutputsTx(3)}},
	}
	for name, blk := range blocks {
		t.Run(name, func(t *testing.T) {
			b := blk.Encode()
			if len(b) != blk.SerializeSize() {
				t.Fatalf("SerializeSize = %d, len(Encode) = %d", blk.SerializeSize(), len(b))
			}
			got, err := wire.DecodeBlock(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, blk) {
				t.Fatal("DecodeBlock(Encode(b)) differs from b")
			}
			if !bytes.Equal(got.Encode(), b) {
				t.Fatal("re-encoding differs")
			}
			if got.BlockID() != dsha(b[:wire.HeaderSize]) {
				t.Fatal("BlockID is not H2(header)")
			}
		})
	}

	if b := big.Encode(); b[wire.HeaderSize] != 0x82 || b[wire.HeaderSize+1] != 0x01 {
		t.Fatalf("130 transactions counted as %x, want varint 82 01", b[wire.HeaderSize:wire.HeaderSize+2])
	}

	// A block without transactions is decodable (the rules refuse it).
	empty := cat(goldenBlock().Header.Encode(), []byte{0})
	got, err := wire.DecodeBlock(empty)
	if err != nil || len(got.Txs) != 0 || !bytes.Equal(got.Encode(), empty) {
		t.Fatalf("empty block: %v", err)
	}
}

func TestGoldenTx(t *testing.T) {
	golden := mustHex(t, goldenTxHex)
	tx := goldenTx()
	b := tx.Encode()
	if !bytes.Equal(b, golden) {
		t.Fatalf("encoding changed:\n got %x\nwant %x", b, golden)
	}
	if len(b) != 206 {
		t.Fatalf("len = %d, want 206", len(b))
	}
	// Spot checks at the SPEC's offsets, independent of the golden string.
	checks := []struct {
		off  int
		want []byte
		what string
	}{
		{0, le32(1), "version"},
		{4, []byte{1}, "n_in"},
		{5, tx.Inputs[0].Prev.TxID[:], "prev_txid"},
		{37, le32(2), "prev_index"},
		{41, tx.Inputs[0].PubKey[:], "pubkey"},
		{74, tx.Inputs[0].Sig[:], "sig"},
		{5 + wire.InputSize, []byte{2}, "n_out"},
		{139, le64(5_000_000_000), "amount 0"},
		{147, tx.Outputs[0].PKH[:], "pkh 0"},
		{167, le64(1), "amount 1"},
		{175, tx.Outputs[1].PKH[:], "pkh 1"},
		{195, le64(100), "lock_time"},
		{203, []byte{2, 'h', 'i'}, "extra"},
	}
	for _, c := range checks {
		if !bytes.Equal(b[c.off:c.off+len(c.want)], c.want) {
			t.Errorf("%s at offset %d = %x, want %x", c.what, c.off, b[c.off:c.off+len(c.want)], c.want)
		}
	}
	if wire.InputSize != 133 || wire.OutputSize != 28 {
		t.Errorf("InputSize %d, OutputSize %d; want 133, 28", wire.InputSize, wire.OutputSize)
	}
	if got := tx.TxID().String(); got != goldenTxID {
		t.Errorf("txid = %s, want %s", got, goldenTxID)
	}
	dec, err := wire.DecodeTx(golden)
	if err != nil || !reflect.DeepEqual(dec, tx) {
		t.Fatalf("DecodeTx(golden) = %+v, %v", dec, err)
	}
}

func TestGoldenBlock(t *testing.T) {
	golden := mustHex(t, goldenBlockHex)
	blk := goldenBlock()
	b := blk.Encode()
	if !bytes.Equal(b, golden) {
		t.Fatalf("encoding changed:\n got %x\nwant %x", b, golden)
	}
	cbID, txID := dsha(b[89:145]), dsha(b[145:])
	leafCB, leafTx := sha([]byte{0}, cbID[:]), sha([]byte{0}, txID[:])
	root := sha([]byte{1}, leafCB[:], leafTx[:])
	checks := []struct {
		off  int
		want []byte
		what string
	}{
		{0, le32(1), "version"},
		{4, seq(0xe0, 32), "prev block"},
		{36, root[:], "Merkle root = H(01 || H(00||cb) || H(00||tx))"},
		{68, le64(1_700_000_000), "time"},
		{76, []byte{0xff, 0xff, 0x7f, 0x20}, "bits"},
		{80, le64(42), "nonce"},
		{88, []byte{2}, "tx count"},
		{89, cat(le32(1), []byte{0, 1}), "coinbase version, n_in 0, n_out 1"},
		{131, []byte{13}, "coinbase extra length"},
		{132, le64(5), "coinbase height"},
		{144, []byte("y"), "end of coinbase data"},
		{145, mustHex(t, goldenTxHex), "second tx"},
	}
	for _, c := range checks {
		if !bytes.Equal(b[c.off:c.off+len(c.want)], c.want) {
			t.Errorf("%s at offset %d = %x, want %x", c.what, c.off, b[c.off:c.off+len(c.want)], c.want)
		}
	}
	if len(b) != 351 {
		t.Errorf("len = %d, want 351", len(b))
	}
	if got := blk.BlockID().String(); got != goldenBlockID {
		t.Errorf("block id = %s, want %s", got, goldenBlockID)
	}
	if ids := blk.TxIDs(); ids[0].String() != goldenCoinbaseID || ids[0] != cbID || ids[1].String() != goldenTxID || ids[1] != txID {
		t.Errorf("txids = %v", ids)
	}
	dec, err := wire.DecodeBlock(golden)
	if err != nil || !reflect.DeepEqual(dec, blk) {
		t.Fatalf("DecodeBlock(golden): %v", err)
	}
}

func TestVarintCounts(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 129, 300} {
		tx := manyOutputsTx(n)
		tx.Inputs = nil
		b := tx.Encode()
		want := uvar(uint64(n))
		if !bytes.Equal(b[5:5+len(want)], want) {
			t.Errorf("n_out %d encoded as %x, want %x", n, b[5:5+len(want)], want)
		}
		if len(b) != tx.SerializeSize() {
			t.Errorf("n_out %d: SerializeSize %d, len %d", n, tx.SerializeSize(), len(b))
		}
	}
	if !bytes.Equal(uvar(128), []byte{0x80, 0x01}) || !bytes.Equal(uvar(300), []byte{0xac, 0x02}) {
		t.Fatal("LEB128 sanity check failed")
	}
}

// rawTx assembles a transaction encoding from already-encoded counts, so
// that tests can write non-canonical forms.
func rawTx(nIn []byte, ins [][]byte, nOut []byte, outs [][]byte, extraLen []byte, extra []byte) []byte {
	return cat(le32(1), nIn, cat(ins...), nOut, cat(outs...), le64(0), extraLen, extra)
}

func TestDecodeTxRejects(t *testing.T) {
	golden := mustHex(t, goldenTxHex)
	out := cat(le64(7), seq(0, 20))
	in := make([]byte, wire.InputSize)
	maxVarint := uvar(1<<64 - 1)
	pad := func(b []byte, n int) []byte { return append(b, make([]byte, n-len(b))...) }

	cases := map[string][]byte{
		"empty":                      {},
		"version only":               le32(1),
		"trailing byte":              cat(golden, []byte{0}),
		"trailing tx":                cat(golden, golden),
		"coinbase trailing":          cat(coinbaseTx(1, "").Encode(), []byte{0xff}),
		"n_in 80 00":                 rawTx([]byte{0x80, 0x00}, nil, uvar(1), [][]byte{out}, uvar(8), le64(1)),
		"n_in 81 00":                 rawTx([]byte{0x81, 0x00}, [][]byte{in}, uvar(1), [][]byte{out}, uvar(0), nil),
		"n_out 81 00":                rawTx(uvar(0), nil, []byte{0x81, 0x00}, [][]byte{out}, uvar(8), le64(1)),
		"n_out 81 80 00":             rawTx(uvar(0), nil, []byte{0x81, 0x80, 0x00}, [][]byte{out}, uvar(8), le64(1)),
		"extra length 80 00":         rawTx(uvar(0), nil, uvar(1), [][]byte{out}, []byte{0x80, 0x00}, nil),
		"extra length 88 00":         rawTx(uvar(0), nil, uvar(1), [][]byte{out}, []byte{0x88, 0x00}, le64(1)),
		"extra length 101":           rawTx(uvar(0), nil, uvar(1), [][]byte{out}, uvar(101), make([]byte, 101)),
		"extra length 200":           rawTx(uvar(0), nil, uvar(1), [][]byte{out}, uvar(200), make([]byte, 200)),
		"extra longer than the rest": rawTx(uvar(0), nil, uvar(1), [][]byte{out}, uvar(50), make([]byte, 10)),
		"n_in 2^40 in 20 bytes":      pad(cat(le32(1), uvar(1<<40)), 20),
		"n_out 2^40 in 20 bytes":     pad(cat(le32(1), uvar(0), uvar(1<<40)), 20),
		"n_in 2^64-1":                pad(cat(le32(1), maxVarint), 40),
		"n_out 2^64-1":               pad(cat(le32(1), uvar(0), maxVarint), 40),
		"n_in overflows u64":         pad(cat(le32(1), bytes.Repeat([]byte{0xff}, 10), []byte{0x01}), 40),
		"unterminated varint":        cat(le32(1), []byte{0x80}),
		"n_in one more than fits":    rawTx(uvar(2), [][]byte{in}, uvar(0), nil, uvar(0), nil),
		"n_out one more than fits":   rawTx(uvar(0), nil, uvar(2), [][]byte{out}, uvar(0), nil),
		"missing lock_time":          cat(le32(1), uvar(0), uvar(1), out),
	}
	for name, b := range cases {
		tx, err := wire.DecodeTx(b)
		wantDecodeErr(t, err, name)
		if tx != nil {
			t.Errorf("%s: returned a transaction with the error", name)
		}
	}

	// The limits themselves are accepted.
	var outs128 [][]byte
	for range 128 {
		outs128 = append(outs128, out)
	}
	ok := map[string][]byte{
		"extra length 100":   rawTx(uvar(0), nil, uvar(1), [][]byte{out}, uvar(100), make([]byte, 100)),
		"extra length 0":     rawTx(uvar(0), nil, uvar(1), [][]byte{out}, uvar(0), nil),
		"one input exactly":  rawTx(uvar(1), [][]byte{in}, uvar(0), nil, uvar(0), nil),
		"128 outputs, 80 01": rawTx([]byte{0x00}, nil, []byte{0x80, 0x01}, outs128, uvar(0), nil),
	}
	for name, b := range ok {
		tx, err := wire.DecodeTx(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(tx.Encode(), b) {
			t.Errorf("%s: does not re-encode to the same bytes", name)
		}
	}
}

func TestDecodeBlockRejects(t *testing.T) {
	golden := mustHex(t, goldenBlockHex)
	hdr := golden[:wire.HeaderSize]
	cb := coinbaseTx(5, "tally").Encode()
	cases := map[string][]byte{
		"empty":                   {},
		"87 bytes":                hdr[:87],
		"header only":             hdr,
		"trailing byte":           cat(golden, []byte{0}),
		"trailing tx":             cat(golden, cb),
		"count 81 00":             cat(hdr, []byte{0x81, 0x00}, cb),
		"count 80 00":             cat(hdr, []byte{0x80, 0x00}),
		"count 2 with one tx":     cat(hdr, uvar(2), cb),
		"count 2^40 in 20 bytes":  cat(hdr, uvar(1<<40), make([]byte, 14)),
		"count 2^64-1":            cat(hdr, uvar(1<<64-1), make([]byte, 100)),
		"count overflows":         cat(hdr, bytes.Repeat([]byte{0xff}, 10), []byte{1}),
		"bad tx inside":           cat(hdr, uvar(1), le32(1), []byte{0x80, 0x00}, cb[5:]),
		"tx with trailing inside": cat(hdr, uvar(1), cb, []byte{0}),
	}
	for name, b := range cases {
		blk, err := wire.DecodeBlock(b)
		wantDecodeErr(t, err, name)
		if blk != nil {
			t.Errorf("%s: returned a block with the error", name)
		}
	}
}

// TestDecodeHugeCountsDoNotAllocate checks that a count read from the wire
// is bounded by the bytes left before anything is allocated for it.
func TestDecodeHugeCountsDoNotAllocate(t *testing.T) {
	hdr := goldenBlock().Header.Encode()
	pad := func(b []byte, n int) []byte { return append(b, make([]byte, n-len(b))...) }
	inputs := map[string]func([]byte) error{
		"tx":    func(b []byte) error { _, err := wire.DecodeTx(b); return err },
		"block": func(b []byte) error { _, err := wire.DecodeBlock(b); return err },
		"proof": func(b []byte) error { _, err := wire.DecodeTxProof(b); return err },
	}
	cases := []struct {
		kind string
		b    []byte
	}{
		{"tx", pad(cat(le32(1), uvar(1<<40)), 20)},
		{"tx", pad(cat(le32(1), uvar(0), uvar(1<<40)), 20)},
		{"tx", pad(cat(le32(1), uvar(1<<62)), 20)},
		// A huge output count after one or two inputs (decoding peeks
		// at it to allocate the transaction once).
		{"tx", pad(cat(le32(1), uvar(1), make([]byte, wire.InputSize), uvar(1<<40)), 20+wire.InputSize)},
		{"tx", pad(cat(le32(1), uvar(2), make([]byte, 2*wire.InputSize), uvar(3)), 20+2*wire.InputSize)},
		{"block", cat(hdr, uvar(1<<40), make([]byte, 14))},
		{"block", cat(hdr, uvar(1<<62), make([]byte, 14))},
		{"proof", cat(hdr, make([]byte, 40), uvar(1<<40), make([]byte, 14))},
	}
	for _, c := range cases {
		decode := inputs[c.kind]
		if err := decode(c.b); err == nil {
			t.Fatalf("%s %x: decoded", c.kind, c.b)
		}
		var before, after runtime.MemStats
		const runs = 200
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range runs {
			_ = decode(c.b)
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
			t.Errorf("%s with a huge count allocates %d bytes per decode", c.kind, per)
		}
	}
}

func TestTruncationAtEveryOffset(t *testing.T) {
	txs := []*wire.Tx{goldenTx(), coinbaseTx(5, "tally"), multiInputTx(), manyOutputsTx(130), {Version: 1}}
	for _, tx := range txs {
		b := tx.Encode()
		for i := range len(b) {
			// A full-capacity slice would let a decoder that reads past
			// len go unnoticed; cap the prefix.
			_, err := wire.DecodeTx(b[:i:i])
			wantDecodeErr(t, err, "tx truncated")
		}
	}
	blk := goldenBlock()
	blk.Txs = append(blk.Txs, multiInputTx())
	for _, b := range [][]byte{mustHex(t, goldenBlockHex), blk.Encode()} {
		for i := range len(b) {
			_, err := wire.DecodeBlock(b[:i:i])
			wantDecodeErr(t, err, "block truncated")
		}
	}
}

func TestSerializeSize(t *testing.T) {
	for name, tx := range sampleTxs() {
		if tx.SerializeSize() != len(tx.Encode()) {
			t.Errorf("%s: SerializeSize %d != len(Encode) %d", name, tx.SerializeSize(), len(tx.Encode()))
		}
	}
	for _, n := range []int{0, 1, 100} {
		tx := goldenTx()
		tx.Extra = make([]byte, n)
		if tx.SerializeSize() != len(tx.Encode()) {
			t.Errorf("extra %d: SerializeSize %d != %d", n, tx.SerializeSize(), len(tx.Encode()))
		}
	}
	blk := goldenBlock()
	if blk.SerializeSize() != len(blk.Encode()) || blk.SerializeSize() != 351 {
		t.Errorf("block SerializeSize %d, len %d", blk.SerializeSize(), len(blk.Encode()))
	}
	empty := &wire.Block{}
	if empty.SerializeSize() != 89 || len(empty.Encode()) != 89 {
		t.Errorf("empty block size %d", empty.SerializeSize())
	}
}

var devNet = [4]byte{0x7a, 0x11, 0xde, 0x00}

// goldenSigHash is SigHash(goldenTx, 7a11de00).
const goldenSigHash = "f9e1ae154990ed382e0e4da129ccaa78e122fd5dc1bb6c065bcb28e27b95481a"

func TestSigHash(t *testing.T) {
	tx := goldenTx()
	enc := tx.Encode()

	// Independent construction: splice 64 zero bytes over the sig field
	// (offset 74, SPEC 2) and prepend the network id.
	zeroed := bytes.Clone(enc)
	copy(zeroed[74:138], make([]byte, 64))
	want := dsha(devNet[:], zeroed)
	if got := wire.SigHash(tx, devNet); got != want {
		t.Fatalf("SigHash = %s, want H2(network_id || zeroed encoding) = %s", got, want)
	}
	if !bytes.Equal(tx.AppendEncoding(nil, true), zeroed) {
		t.Fatal("AppendEncoding(zeroSigs) is not the encoding with zeroed sigs")
	}
	if !bytes.Equal(tx.Encode(), enc) {
		t.Fatal("SigHash modified the transaction")
	}
	if got := wire.SigHash(tx, devNet).String(); got != goldenSigHash {
		t.Errorf("SigHash(golden, 7a11de00) = %s, want %s", got, goldenSigHash)
	}

	// Different networks, different messages.
	seen := map[wire.Hash]string{}
	for _, id := range [][4]byte{devNet, {0x7a, 0x11, 0xde, 0x01}, {}, {0x00, 0xde, 0x11, 0x7a}, {0xff, 0xff, 0xff, 0xff}} {
		h := wire.SigHash(tx, id)
		if prev, dup := seen[h]; dup {
			t.Errorf("network ids %s and %x give the same SigHash", prev, id)
		}
		seen[h] = hex.EncodeToString(id[:])
	}

	// Signatures are not covered; everything else is.
	multi := multiInputTx()
	base := wire.SigHash(multi, devNet)
	baseID := multi.TxID()
	for i := range multi.Inputs {
		for j := range multi.Inputs[i].Sig {
			multi.Inputs[i].Sig[j] ^= 0xa5
		}
		if wire.SigHash(multi, devNet) != base {
			t.Fatalf("changing sig %d changed SigHash", i)
		}
	}
	if multi.TxID() == baseID {
		t.Fatal("changing sigs did not change the txid")
	}
	zeroedMulti := multiInputTx()
	for i := range zeroedMulti.Inputs {
		zeroedMulti.Inputs[i].Sig = [64]byte{}
	}
	if got := dsha(devNet[:], zeroedMulti.Encode()); got != base {
		t.Fatal("multi-input SigHash is not over the all-zero-sig encoding")
	}

	mutations := map[string]func(tx *wire.Tx){
		"version":    func(tx *wire.Tx) { tx.Version = 2 },
		"prev txid":  func(tx *wire.Tx) { tx.Inputs[1].Prev.TxID[0] ^= 1 },
		"prev index": func(tx *wire.Tx) { tx.Inputs[2].Prev.Index++ },
		"pubkey":     func(tx *wire.Tx) { tx.Inputs[0].PubKey[32] ^= 1 },
		"amount":     func(tx *wire.Tx) { tx.Outputs[0].Amount++ },
		"pkh":        func(tx *wire.Tx) { tx.Outputs[0].PKH[19] ^= 1 },
		"lock_time":  func(tx *wire.Tx) { tx.LockTime++ },
		"memo":       func(tx *wire.Tx) { tx.Extra[79] = 'n' },
		"memo len":   func(tx *wire.Tx) { tx.Extra = tx.Extra[:79] },
		"input drop": func(tx *wire.Tx) { tx.Inputs = tx.Inputs[:2] },
		"input swap": func(tx *wire.Tx) { tx.Inputs[0], tx.Inputs[1] = tx.Inputs[1], tx.Inputs[0] },
		"output add": func(tx *wire.Tx) { tx.Outputs = append(tx.Outputs, tx.Outputs[0]) },
	}
	for name, mutate := range mutations {
		m := multiInputTx()
		mutate(m)
		if wire.SigHash(m, devNet) == base {
			t.Errorf("changing %s did not change SigHash", name)
		}
	}

	// Coinbases have no sigs: the message is just H2(id || encoding).
	cb := coinbaseTx(3, "x")
	if wire.SigHash(cb, devNet) != dsha(devNet[:], cb.Encode()) {
		t.Error("coinbase SigHash")
	}
}

func TestHashText(t *testing.T) {
	h := seqHash(0xf0)
	s := h.String()
	if s != strings.ToLower(s) || s[:4] != "f0f1" {
		t.Fatalf("String = %s: want lowercase hex in byte order", s)
	}
	p, err := wire.ParseHash(strings.ToUpper(s))
	if err != nil || p != h {
		t.Fatalf("ParseHash(upper) = %s, %v", p, err)
	}
	for _, bad := range []string{"", s[:62], s + "00", s[:63] + "g", " " + s[1:]} {
		if _, err := wire.ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
	txt, _ := h.MarshalText()
	var back wire.Hash
	if err := back.UnmarshalText(txt); err != nil || back != h {
		t.Fatal("text round trip")
	}
	if !wire.ZeroHash.IsZero() || h.IsZero() {
		t.Fatal("IsZero")
	}
	// H and H2 against the standard vectors for the empty string.
	if wire.H(nil).String() != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" ||
		wire.H2(nil).String() != "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456" {
		t.Fatal("H or H2 of the empty string")
	}
}
