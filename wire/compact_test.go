package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/dchest/siphash"

	"tally/wire"
)

// TestSipHashReferenceVector checks the SipHash-2-4 implementation against
// the reference vector of the SipHash paper (Aumasson and Bernstein,
// appendix A): key 00..0f, message 00..0e.
func TestSipHashReferenceVector(t *testing.T) {
	key := seq(0, 16)
	k0, k1 := binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	if got := siphash.Hash(k0, k1, seq(0, 15)); got != 0xa129ca6149be45e5 {
		t.Fatalf("SipHash-2-4 reference vector: got %#x", got)
	}
}

// refShortID computes a short id from SPEC section 5's words, with the
// standard library and SipHash only.
func refShortID(header []byte, nonce uint64, txid wire.Hash) uint64 {
	d := sha(header, le64(nonce))
	k0, k1 := binary.LittleEndian.Uint64(d[0:8]), binary.LittleEndian.Uint64(d[8:16])
	return siphash.Hash(k0, k1, txid[:]) & (1<<48 - 1)
}

func compactSample() (*wire.Block, *wire.CompactBlock) {
	b := goldenBlock()
	b.Txs = append(b.Txs, multiInputTx(), manyOutputsTx(3), sampleTxs()["no_outputs_memo"])
	b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
	return b, wire.NewCompactBlock(b, b.TxIDs(), 0x0706050403020100, 2)
}

func TestCompactBlockEncoding(t *testing.T) {
	b, cb := compactSample()
	ids := b.TxIDs()
	hdr := b.Header.Encode()
	sid := func(i int) []byte { return le64(refShortID(hdr, cb.Nonce, ids[i]))[:6] }
	want := cat(hdr, le64(0x0706050403020100),
		uvar(3), sid(1), sid(3), sid(4),
		uvar(2), uvar(0), b.Txs[0].Encode(), uvar(2), b.Txs[2].Encode())
	enc := cb.Encode()
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoding\n got  %x\n want %x", enc, want)
	}
	if cb.SerializeSize() != len(enc) {
		t.Fatalf("SerializeSize %d, len %d", cb.SerializeSize(), len(enc))
	}
	if cb.TxCount() != len(b.Txs) {
		t.Fatalf("TxCount %d", cb.TxCount())
	}
	got, err := wire.DecodeCompactBlock(enc, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cb) {
		t.Fatal("decode(encode(x)) != x")
	}
	k := cb.Key()
	for i, s := range cb.ShortIDs {
		if uint64(s) != refShortID(hdr, cb.Nonce, ids[[]int{1, 3, 4}[i]]) || s >= 1<<48 {
			t.Fatalf("short id %d = %#x", i, s)
		}
	}
	if k.ShortID(ids[1]) != cb.ShortIDs[0] {
		t.Fatal("Key().ShortID disagrees with the encoded short id")
	}
	// Another nonce gives another key.
	if wire.NewShortIDKey(&b.Header, cb.Nonce+1) == k {
		t.Fatal("the nonce does not change the key")
	}
}

func TestCompactBlockDecodeRefuses(t *testing.T) {
	b, cb := compactSample()
	hdr := b.Header.Encode()
	cbTx, tx2 := b.Txs[0].Encode(), b.Txs[2].Encode()
	ids := cat(seq(1, 6), seq(7, 6), seq(13, 6))
	head := cat(hdr, le64(cb.Nonce))
	valid := cat(head, uvar(3), ids, uvar(2), uvar(0), cbTx, uvar(2), tx2)
	if _, err := wire.DecodeCompactBlock(valid, 100); err != nil {
		t.Fatalf("valid encoding refused: %v", err)
	}
	for name, c := range map[string]struct {
		b      []byte
		maxTxs int
	}{
		"no prefilled":           {cat(head, uvar(3), ids, uvar(0)), 100},
		"coinbase not first":     {cat(head, uvar(3), ids, uvar(2), uvar(1), cbTx, uvar(2), tx2), 100},
		"indexes not ascending":  {cat(head, uvar(3), ids, uvar(2), uvar(0), cbTx, uvar(0), tx2), 100},
		"index outside block":    {cat(head, uvar(3), ids, uvar(2), uvar(0), cbTx, uvar(5), tx2), 100},
		"too many txs":           {valid, 4},
		"trailing byte":          {cat(valid, []byte{0}), 100},
		"non-minimal count":      {cat(head, []byte{0x83, 0x00}, ids, uvar(2), uvar(0), cbTx, uvar(2), tx2), 100},
		"count beyond the bytes": {cat(head, uvar(200), ids), 1000},
		"no nonce":               {hdr, 100},
		"bad prefilled tx":       {cat(head, uvar(3), ids, uvar(1), uvar(0), cbTx[:len(cbTx)-1]), 100},
	} {
		_, err := wire.DecodeCompactBlock(c.b, c.maxTxs)
		wantDecodeErr(t, err, name)
	}
}

// TestCompactBlockTruncated: every proper prefix of a valid encoding is
// refused with a decoding error (no panic, no partial value).
func TestCompactBlockTruncated(t *testing.T) {
	_, cb := compactSample()
	enc := cb.Encode()
	for n := 0; n < len(enc); n++ {
		got, err := wire.DecodeCompactBlock(enc[:n], 100)
		if got != nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
		wantDecodeErr(t, err, fmt.Sprintf("prefix of %d bytes", n))
	}
}

func TestMaxBlockTxs(t *testing.T) {
	// The smallest tx is 15 bytes; a 1 MB block holds at most that many.
	if got := wire.MaxBlockTxs(1_000_000); got != (1_000_000-89)/15 {
		t.Fatalf("MaxBlockTxs = %d", got)
	}
	if wire.MaxBlockTxs(10) != 0 {
		t.Fatal("MaxBlockTxs of a limit below a header")
	}
}

func FuzzDecodeCompactBlock(f *testing.F) {
	addSeeds(f, "FuzzDecodeCompactBlock")
	f.Fuzz(func(t *testing.T, b []byte) {
		cb, err := wire.DecodeCompactBlock(b, 1000)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		enc := cb.Encode()
		if !bytes.Equal(enc, b) {
			t.Fatalf("encode(decode(b)) != b\n b   %x\n enc %x", b, enc)
		}
		if cb.SerializeSize() != len(b) || cb.TxCount() > 1000 || cb.Prefilled[0].Index != 0 {
			t.Fatalf("size %d len %d count %d", cb.SerializeSize(), len(b), cb.TxCount())
		}
		again, err := wire.DecodeCompactBlock(enc, 1000)
		if err != nil || !reflect.DeepEqual(again, cb) {
			t.Fatalf("decode(encode(x)) != x: %v", err)
		}
	})
}

// compactSeeds are the fuzz seeds of FuzzDecodeCompactBlock.
func compactSeeds() map[string][]byte {
	_, cb := compactSample()
	only := goldenBlock()
	only.Txs = only.Txs[:1]
	return map[string][]byte{
		"sample":        cb.Encode(),
		"coinbase_only": wire.NewCompactBlock(only, only.TxIDs(), 1).Encode(),
		"doc_example":   docCompact().Encode(),
	}
}

// docCompactNonce is the nonce of the worked example in docs/protocol.md.
const docCompactNonce = 0x0706050403020100

// docCompact is the compact form of the example block of docs/protocol.md
// 11.3.
func docCompact() *wire.CompactBlock {
	tx, _ := docSignedTx([4]byte{0x7a, 0x11, 0xde, 0x00})
	blk := docBlock(tx)
	return wire.NewCompactBlock(blk, blk.TxIDs(), docCompactNonce)
}

// TestCompactDocExample checks the worked example of docs/protocol.md
// ("A compact block"): its bytes, the key and the short id, computed here
// from the specification's words.
func TestCompactDocExample(t *testing.T) {
	tx, _ := docSignedTx([4]byte{0x7a, 0x11, 0xde, 0x00})
	blk := docBlock(tx)
	hdr := blk.Header.Encode()
	txid := tx.TxID()
	d := sha(hdr, le64(docCompactNonce))
	k0, k1 := binary.LittleEndian.Uint64(d[0:8]), binary.LittleEndian.Uint64(d[8:16])
	full := siphash.Hash(k0, k1, txid[:])
	sid := full & (1<<48 - 1)
	enc := docCompact().Encode()
	want := cat(hdr, le64(docCompactNonce), uvar(1), le64(sid)[:6], uvar(1), uvar(0), blk.Txs[0].Encode())
	if !bytes.Equal(enc, want) {
		t.Fatalf("example compact block\n got  %x\n want %x", enc, want)
	}
	if *docDump {
		t.Logf("\ncompact %x\nsize %d\nsha %s\nk0 %#016x k1 %#016x\nsiphash %#016x\nshort id %#012x bytes %x\n",
			enc, len(enc), d, k0, k1, full, sid, le64(sid)[:6])
	}
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(doc)), "")
	for what, s := range map[string]string{
		"compact block hex": hex.EncodeToString(enc),
		"key digest":        d.String(),
		"k0":                fmt.Sprintf("%016x", k0),
		"k1":                fmt.Sprintf("%016x", k1),
		"siphash output":    fmt.Sprintf("%016x", full),
		"short id bytes":    hex.EncodeToString(le64(sid)[:6]),
	} {
		if !strings.Contains(flat, s) {
			t.Errorf("docs/protocol.md does not show the %s %s", what, s)
		}
	}
}

func TestTxsRoundTrip(t *testing.T) {
	txs := []*wire.Tx{goldenTx(), multiInputTx(), manyOutputsTx(2)}
	enc := wire.AppendTxs(nil, txs)
	if want := cat(uvar(3), txs[0].Encode(), txs[1].Encode(), txs[2].Encode()); !bytes.Equal(enc, want) {
		t.Fatalf("AppendTxs\n got  %x\n want %x", enc, want)
	}
	got, err := wire.DecodeTxs(enc, 3)
	if err != nil || !reflect.DeepEqual(got, txs) {
		t.Fatalf("DecodeTxs: %v", err)
	}
	if _, err := wire.DecodeTxs(enc, 2); err == nil {
		t.Fatal("count above max decoded")
	}
	wantDecodeErr(t, func() error { _, err := wire.DecodeTxs(cat(enc, []byte{0}), 3); return err }(), "trailing byte")
	for n := 0; n < len(enc); n++ {
		_, err := wire.DecodeTxs(enc[:n], 3)
		wantDecodeErr(t, err, fmt.Sprintf("prefix of %d bytes", n))
	}
	if got, err := wire.DecodeTxs(uvar(0), 3); err != nil || len(got) != 0 {
		t.Fatalf("empty list: %v", err)
	}
}
