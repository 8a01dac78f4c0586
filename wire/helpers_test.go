package wire_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"testing"

	"tally/wire"
)

// update rewrites generated test data (the fuzz seed corpus) instead of
// only checking it: go test ./chain -run TestFuzzSeedCorpus -update
var update = flag.Bool("update", false, "rewrite generated files under testdata/")

// The helpers below compute hashes and build encodings with the standard
// library only, so that the tests do not check the package against itself.

// sha returns SHA-256 of the concatenation of parts.
func sha(parts ...[]byte) wire.Hash {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out wire.Hash
	h.Sum(out[:0])
	return out
}

// dsha returns SHA-256(SHA-256(concatenation of parts)).
func dsha(parts ...[]byte) wire.Hash {
	first := sha(parts...)
	return sha(first[:])
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func uvar(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// seq returns n bytes start, start+1, ... (wrapping), a pattern that makes
// a misplaced field visible.
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func seqHash(start byte) (h wire.Hash) {
	copy(h[:], seq(start, wire.HashSize))
	return h
}

func seqPKH(start byte) (p [20]byte) {
	copy(p[:], seq(start, 20))
	return p
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func wantDecodeErr(t testing.TB, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: decoded, want an error", what)
	}
	if !errors.Is(err, wire.ErrDecode) {
		t.Fatalf("%s: error %q does not wrap wire.ErrDecode", what, err)
	}
}

// goldenTx is the small hand-built transaction whose encoding is pinned in
// goldenTxHex: one input, two outputs, lock_time 100 and the memo "hi".
func goldenTx() *wire.Tx {
	in := wire.TxIn{Prev: wire.OutPoint{TxID: seqHash(0x01), Index: 2}}
	in.PubKey[0] = 0x02
	copy(in.PubKey[1:], seq(0x30, 32))
	copy(in.Sig[:], seq(0x50, 64))
	return &wire.Tx{
		Version: 1,
		Inputs:  []wire.TxIn{in},
		Outputs: []wire.TxOut{
			{Amount: 5_000_000_000, PKH: seqPKH(0xa0)},
			{Amount: 1, PKH: seqPKH(0xc0)},
		},
		LockTime: 100,
		Extra:    []byte("hi"),
	}
}

// coinbaseTx returns a coinbase for height paying 50 TALLY to a fixed pkh,
// with data after the height in extra.
func coinbaseTx(height uint64, data string) *wire.Tx {
	return &wire.Tx{
		Version: 1,
		Outputs: []wire.TxOut{{Amount: 5_000_000_000, PKH: seqPKH(0xd0)}},
		Extra:   append(le64(height), data...),
	}
}

// multiInputTx has three inputs with distinct signatures and a memo of the
// largest size a non-coinbase transaction may carry.
func multiInputTx() *wire.Tx {
	tx := &wire.Tx{Version: 1, LockTime: 7, Extra: bytes.Repeat([]byte{'m'}, 80)}
	for i := range 3 {
		in := wire.TxIn{Prev: wire.OutPoint{TxID: seqHash(byte(0x10 * i)), Index: uint32(i)}}
		in.PubKey[0] = 0x03
		copy(in.PubKey[1:], seq(byte(0x40+i), 32))
		copy(in.Sig[:], seq(byte(0x90+i), 64))
		tx.Inputs = append(tx.Inputs, in)
	}
	tx.Outputs = []wire.TxOut{{Amount: 12345, PKH: seqPKH(0x77)}}
	return tx
}

// manyOutputsTx has n outputs, so that n >= 128 needs a two-byte count.
func manyOutputsTx(n int) *wire.Tx {
	tx := goldenTx()
	tx.Outputs = nil
	for i := range n {
		tx.Outputs = append(tx.Outputs, wire.TxOut{Amount: uint64(i + 1), PKH: seqPKH(byte(i))})
	}
	return tx
}

// goldenBlock is a coinbase (height 5, data "tally") and goldenTx under a
// header with the matching Merkle root.
func goldenBlock() *wire.Block {
	b := &wire.Block{
		Header: wire.Header{
			Version:   1,
			PrevBlock: seqHash(0xe0),
			Time:      1_700_000_000,
			Bits:      0x207fffff,
			Nonce:     42,
		},
		Txs: []*wire.Tx{coinbaseTx(5, "tally"), goldenTx()},
	}
	b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
	return b
}

// sampleTxs are valid encodings of various shapes, used by round-trip
// tests and as fuzz seeds.
func sampleTxs() map[string]*wire.Tx {
	return map[string]*wire.Tx{
		"golden":          goldenTx(),
		"coinbase":        coinbaseTx(0, ""),
		"coinbase_data":   coinbaseTx(1<<40, "free data after the height"),
		"coinbase_max":    coinbaseTx(3, string(bytes.Repeat([]byte{'x'}, 92))),
		"multi_input":     multiInputTx(),
		"outputs_130":     manyOutputsTx(130),
		"no_outputs_memo": {Version: 1, Inputs: goldenTx().Inputs, Extra: []byte("memo")},
		"empty":           {Version: 1},
		"version_2":       {Version: 2, Outputs: goldenTx().Outputs, LockTime: 1<<64 - 1},
	}
}
