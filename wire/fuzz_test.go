package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"tally/wire"
)

// Fuzz targets for every decoder (STYLE: encoding is fuzzed both ways).
// Each checks: no panic; a failure wraps wire.ErrDecode; a success
// re-encodes to exactly the input (encode(decode(b)) == b) and decodes
// again to the same value (decode(encode(x)) == x). The seed corpus is
// testdata/fuzz/<FuzzName>/ (see TestFuzzSeedCorpus); run one with
//
//	go test ./chain -run '^$' -fuzz '^FuzzDecodeTx$' -fuzztime 20s

// fuzzSeeds are the valid encodings committed as seed corpus files.
func fuzzSeeds(t testing.TB) map[string]map[string][]byte {
	t.Helper()
	txs := map[string][]byte{}
	for name, tx := range sampleTxs() {
		txs[name] = tx.Encode()
	}
	small := goldenBlock()
	small.Txs = small.Txs[:1]
	small.Header.MerkleRoot = wire.MerkleRoot(small.TxIDs())
	varied := goldenBlock()
	varied.Txs = append(varied.Txs, multiInputTx(), manyOutputsTx(3))
	varied.Header.MerkleRoot = wire.MerkleRoot(varied.TxIDs())
	return map[string]map[string][]byte{
		"FuzzDecodeTx": txs,
		"FuzzDecodeBlock": {
			"golden":        goldenBlock().Encode(),
			"coinbase_only": small.Encode(),
			"varied":        varied.Encode(),
			"no_txs":        cat(goldenBlock().Header.Encode(), []byte{0}),
		},
		"FuzzDecodeHeader": {
			"golden": goldenBlock().Header.Encode(),
			"zero":   make([]byte, wire.HeaderSize),
		},
		"FuzzDecodeCompactBlock": compactSeeds(),
		"FuzzDecodeTxProof": {
			"one_leaf":    sampleTxProof(t, 1, 0).Encode(),
			"five_last":   sampleTxProof(t, 5, 4).Encode(),
			"forty_17":    sampleTxProof(t, 40, 17).Encode(),
			"thousand_up": sampleTxProof(t, 1000, 999).Encode(),
		},
	}
}

// decoders maps each fuzz target to a decoder that also returns the value
// re-encoded, for the seed corpus check.
var decoders = map[string]func([]byte) ([]byte, error){
	"FuzzDecodeTx": func(b []byte) ([]byte, error) {
		tx, err := wire.DecodeTx(b)
		if err != nil {
			return nil, err
		}
		return tx.Encode(), nil
	},
	"FuzzDecodeBlock": func(b []byte) ([]byte, error) {
		blk, err := wire.DecodeBlock(b)
		if err != nil {
			return nil, err
		}
		return blk.Encode(), nil
	},
	"FuzzDecodeHeader": func(b []byte) ([]byte, error) {
		h, err := wire.DecodeHeader(b)
		if err != nil {
			return nil, err
		}
		return h.Encode(), nil
	},
	"FuzzDecodeCompactBlock": func(b []byte) ([]byte, error) {
		cb, err := wire.DecodeCompactBlock(b, 1000)
		if err != nil {
			return nil, err
		}
		return cb.Encode(), nil
	},
	"FuzzDecodeTxProof": func(b []byte) ([]byte, error) {
		p, err := wire.DecodeTxProof(b)
		if err != nil {
			return nil, err
		}
		return p.Encode(), nil
	},
}

func addSeeds(f *testing.F, target string) {
	for _, b := range fuzzSeeds(f)[target] {
		f.Add(b)
	}
}

func checkDecodeErr(t *testing.T, err error) {
	if !errors.Is(err, wire.ErrDecode) {
		t.Fatalf("error %v does not wrap ErrDecode", err)
	}
}

func FuzzDecodeTx(f *testing.F) {
	addSeeds(f, "FuzzDecodeTx")
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := wire.DecodeTx(b)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		enc := tx.Encode()
		if !bytes.Equal(enc, b) {
			t.Fatalf("encode(decode(b)) != b\n b   %x\n enc %x", b, enc)
		}
		if tx.SerializeSize() != len(b) {
			t.Fatalf("SerializeSize %d, len %d", tx.SerializeSize(), len(b))
		}
		if len(tx.Extra) > wire.MaxExtraBytes {
			t.Fatalf("extra of %d bytes decoded", len(tx.Extra))
		}
		again, err := wire.DecodeTx(enc)
		if err != nil || !reflect.DeepEqual(again, tx) {
			t.Fatalf("decode(encode(x)) != x: %v", err)
		}
		if tx.TxID() != wire.H2(b) {
			t.Fatal("txid is not H2 of the bytes")
		}
		_ = wire.SigHash(tx, [4]byte{0x7a, 0x11, 0xde, 0x00})
	})
}

func FuzzDecodeBlock(f *testing.F) {
	addSeeds(f, "FuzzDecodeBlock")
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := wire.DecodeBlock(b)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		enc := blk.Encode()
		if !bytes.Equal(enc, b) {
			t.Fatalf("encode(decode(b)) != b\n b   %x\n enc %x", b, enc)
		}
		if blk.SerializeSize() != len(b) {
			t.Fatalf("SerializeSize %d, len %d", blk.SerializeSize(), len(b))
		}
		again, err := wire.DecodeBlock(enc)
		if err != nil || !reflect.DeepEqual(again, blk) {
			t.Fatalf("decode(encode(x)) != x: %v", err)
		}
		if blk.BlockID() != wire.H2(b[:wire.HeaderSize]) {
			t.Fatal("block id is not H2 of the header bytes")
		}
		_ = wire.MerkleRoot(blk.TxIDs())
	})
}

func FuzzDecodeHeader(f *testing.F) {
	addSeeds(f, "FuzzDecodeHeader")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := wire.DecodeHeader(b)
		if len(b) != wire.HeaderSize {
			if err == nil {
				t.Fatalf("%d-byte header decoded", len(b))
			}
			checkDecodeErr(t, err)
			return
		}
		if err != nil {
			t.Fatalf("88-byte header refused: %v", err)
		}
		if !bytes.Equal(h.Encode(), b) {
			t.Fatal("encode(decode(b)) != b")
		}
		if again, err := wire.DecodeHeader(h.Encode()); err != nil || again != h {
			t.Fatalf("decode(encode(x)) != x: %v", err)
		}
	})
}

func FuzzDecodeTxProof(f *testing.F) {
	addSeeds(f, "FuzzDecodeTxProof")
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := wire.DecodeTxProof(b)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if len(p.Proof.Path) > wire.MaxMerklePath {
			t.Fatalf("path of %d hashes decoded", len(p.Proof.Path))
		}
		enc := p.Encode()
		if !bytes.Equal(enc, b) {
			t.Fatalf("encode(decode(b)) != b\n b   %x\n enc %x", b, enc)
		}
		again, err := wire.DecodeTxProof(enc)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("decode(encode(x)) != x: %v", err)
		}
		// Verification must not panic, and must agree with a
		// recomputation of the root.
		r, rerr := p.Proof.RootFromProof(p.TxID)
		verr := p.Verify()
		if (verr == nil) != (rerr == nil && r == p.Header.MerkleRoot) {
			t.Fatalf("Verify = %v, RootFromProof = %s, %v", verr, r, rerr)
		}
	})
}

// corpusFile renders b in Go's fuzz corpus format.
func corpusFile(b []byte) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
}

func parseCorpusFile(s string) ([]byte, error) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		return nil, fmt.Errorf("not a one-value []byte corpus file")
	}
	v, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	return []byte(v), err
}

// TestFuzzSeedCorpus checks that every committed seed under
// testdata/fuzz/ is a valid encoding for its target that re-encodes to
// itself, and that the generated seeds are all there. With -update it
// rewrites the generated seeds first.
func TestFuzzSeedCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	if *update {
		for target, files := range seeds {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, b := range files {
				if err := os.WriteFile(filepath.Join(dir, "seed_"+name), []byte(corpusFile(b)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	targets := make([]string, 0, len(decoders))
	for target := range decoders {
		targets = append(targets, target)
	}
	sort.Strings(targets)
	for _, target := range targets {
		decode := decoders[target]
		for name, want := range seeds[target] {
			path := filepath.Join("testdata", "fuzz", target, "seed_"+name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (regenerate with -update)", err)
			}
			if got, err := parseCorpusFile(string(data)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is stale (regenerate with -update): %v", path, err)
			}
		}
		entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", target))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			path := filepath.Join("testdata", "fuzz", target, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseCorpusFile(string(data))
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if !strings.HasPrefix(e.Name(), "seed_") {
				continue // a crasher kept as a regression input; the fuzz target runs it
			}
			enc, err := decode(b)
			if err != nil {
				t.Errorf("%s: seed does not decode: %v", path, err)
			} else if !bytes.Equal(enc, b) {
				t.Errorf("%s: seed does not re-encode to itself", path)
			}
		}
	}
}
