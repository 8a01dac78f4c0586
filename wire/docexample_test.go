package wire_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"tally/wire"
)

// The worked examples of docs/protocol.md are built here, so the document
// cannot drift from the code: TestProtocolDocExamples pins their bytes and
// checks that the document shows them. To print the annotated tables:
//
//	go test ./chain -run TestProtocolDocExamples -docdump -v

var docDump = flag.Bool("docdump", false, "print the annotated examples of docs/protocol.md")

// docKeyPair derives a secp256k1 key from SHA-256(seed): the dev key is
// docKeyPair("tally dev key").
func docKeyPair(seed string) (*secp256k1.PrivateKey, [33]byte, [20]byte) {
	k := sha256.Sum256([]byte(seed))
	priv := secp256k1.PrivKeyFromBytes(k[:])
	var pub [33]byte
	copy(pub[:], priv.PubKey().SerializeCompressed())
	return priv, pub, wire.Hash160(pub[:])
}

// docSignedTx is the signed transaction of the document: the dev key
// spends an (illustrative) outpoint of 10 TALLY, pays 2.5 TALLY to the
// example recipient, returns 7.4999 TALLY as change and leaves a fee of
// 10,000 base units, with the memo "coffee".
func docSignedTx(netID [4]byte) (*wire.Tx, wire.Hash) {
	key, pub, pkh := docKeyPair("tally dev key")
	_, _, recipient := docKeyPair("tally example recipient")
	tx := &wire.Tx{
		Version: 1,
		Inputs: []wire.TxIn{{
			Prev:   wire.OutPoint{TxID: wire.H([]byte("tally example funding transaction")), Index: 1},
			PubKey: pub,
		}},
		Outputs: []wire.TxOut{
			{Amount: 250_000_000, PKH: recipient},
			{Amount: 749_990_000, PKH: pkh},
		},
		LockTime: 0,
		Extra:    []byte("coffee"),
	}
	msg := wire.SigHash(tx, netID)
	sig := ecdsa.Sign(key, msg[:])
	r, s := sig.R(), sig.S()
	r.PutBytesUnchecked(tx.Inputs[0].Sig[:32])
	s.PutBytesUnchecked(tx.Inputs[0].Sig[32:])
	return tx, msg
}

// docBlock is the annotated block: a coinbase for height 1 paying the
// subsidy plus the fee to the dev key, then docSignedTx, mined on the dev
// network's easiest target.
func docBlock(tx *wire.Tx) *wire.Block {
	_, _, pkh := docKeyPair("tally dev key")
	cb := &wire.Tx{
		Version: 1,
		Outputs: []wire.TxOut{{Amount: 5_000_000_000 + 10_000, PKH: pkh}},
		Extra:   append(le64(1), "example"...),
	}
	blk := &wire.Block{
		Header: wire.Header{
			Version:   1,
			PrevBlock: wire.H([]byte("tally example parent block")),
			Time:      1_795_306_200,
			Bits:      0x207fffff,
		},
		Txs: []*wire.Tx{cb, tx},
	}
	blk.Header.MerkleRoot = wire.MerkleRoot(blk.TxIDs())
	target := compactToBig(blk.Header.Bits)
	for {
		id := blk.BlockID()
		if new(big.Int).SetBytes(id[:]).Cmp(target) <= 0 {
			return blk
		}
		blk.Header.Nonce++
	}
}

// compactToBig expands nBits (no negative or overflow handling needed for
// the fixed value used here).
func compactToBig(bits uint32) *big.Int {
	mant := big.NewInt(int64(bits & 0x007fffff))
	exp := uint(bits >> 24)
	if exp <= 3 {
		return mant.Rsh(mant, 8*(3-exp))
	}
	return mant.Lsh(mant, 8*(exp-3))
}

// Pinned values of the examples.
const (
	docSignedTxHex = "0100000001f57552f24d655dddd5e3a113da3687cf4912777bda9854b88a48e857d1aeaac9" +
		"0100000002a04c9c529187b5344048123f263541c3b99082291ac94ee80f8aa01114e2f783" +
		"e0daa40117541d51cf376b855a8fb6c0d4cd4a998e8ce074c06c9af805854fcf" +
		"4268a760a151b06eb588785dc6079c55ff4f799882046f62b7b8d92869b7b933" +
		"0280b2e60e00000000e3a24061ba269d8b4448ee77ebb02bd4011c0863" +
		"70f0b32c0000000039465e831a20ed62d8b595984c0dc0a6269f285d" +
		"000000000000000006636f66666565"
	docBlockHex = "010000008fdb621653053d5c10ba3217bd32f11d8e6421f89cb8f31ef244558083c27652" +
		"ea0bd6c352bf443462bd4c1c57fa92559402eb93ef14503d025713e7689f8b43" +
		"d832026b00000000ffff7f200000000000000000" +
		"02" +
		"0100000000011019062a0100000039465e831a20ed62d8b595984c0dc0a6269f285d" +
		"00000000000000000f01000000000000006578616d706c65" +
		docSignedTxHex
	// docDevAddress is the dev key's address on the dev network, the one
	// genesis.json's dev allocation pays.
	docDevAddress = "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"
)

func TestProtocolDocExamples(t *testing.T) {
	netID := [4]byte{0x7a, 0x11, 0xde, 0x00}
	tx, msg := docSignedTx(netID)
	enc := tx.Encode()

	// The signature is valid, low-S, and r, s are in range.
	pub, err := secp256k1.ParsePubKey(tx.Inputs[0].PubKey[:])
	if err != nil {
		t.Fatal(err)
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(tx.Inputs[0].Sig[:32]) || r.IsZero() || s.SetByteSlice(tx.Inputs[0].Sig[32:]) || s.IsZero() {
		t.Fatal("r or s out of range")
	}
	if s.IsOverHalfOrder() {
		t.Fatal("high S")
	}
	if !ecdsa.NewSignature(&r, &s).Verify(msg[:], pub) {
		t.Fatal("example signature does not verify")
	}
	zeroed := tx.AppendEncoding(nil, true)
	if msg != dsha(netID[:], zeroed) {
		t.Fatal("example sighash")
	}

	blk := docBlock(tx)
	benc := blk.Encode()

	if *docDump {
		dumpDocExamples(t, tx, msg, blk)
	}
	if got := hex.EncodeToString(enc); got != docSignedTxHex {
		t.Errorf("signed example tx changed:\n%s", got)
	}
	if got := hex.EncodeToString(benc); got != docBlockHex {
		t.Errorf("example block changed:\n%s", got)
	}
	_, _, devPKH := docKeyPair("tally dev key")
	if addr, _ := wire.EncodeAddress("tlyd", devPKH); addr != docDevAddress {
		t.Errorf("dev address = %s, want %s", addr, docDevAddress)
	}
	proof := docProof(t, blk)

	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatalf("docs/protocol.md: %v", err)
	}
	flat := strings.Join(strings.Fields(string(doc)), "")
	for what, h := range map[string]string{
		"signed tx hex":     docSignedTxHex,
		"block hex":         docBlockHex,
		"signed txid":       tx.TxID().String(),
		"sighash":           msg.String(),
		"sighash preimage":  hex.EncodeToString(cat(netID[:], zeroed)),
		"block id":          blk.BlockID().String(),
		"tx proof":          hex.EncodeToString(proof),
		"dev address":       docDevAddress,
		"golden test tx":    goldenTxHex,
		"golden test block": goldenBlockHex,
	} {
		if !strings.Contains(flat, h) {
			t.Errorf("docs/protocol.md does not show the %s %s", what, h)
		}
	}
}

// docProof is the gettxoutproof encoding proving the example tx (index 1)
// in the example block.
func docProof(t *testing.T, blk *wire.Block) []byte {
	mp, err := wire.BuildMerkleProof(blk.TxIDs(), 1)
	if err != nil {
		t.Fatal(err)
	}
	p := &wire.TxProof{Header: blk.Header, TxID: blk.Txs[1].TxID(), Proof: mp}
	if err := p.Verify(); err != nil {
		t.Fatal(err)
	}
	return p.Encode()
}

// dumpDocExamples prints the markdown tables of docs/protocol.md.
func dumpDocExamples(t *testing.T, tx *wire.Tx, msg wire.Hash, blk *wire.Block) {
	_, pub, devPKH := docKeyPair("tally dev key")
	_, rpub, rpkh := docKeyPair("tally example recipient")
	k := sha256.Sum256([]byte("tally dev key"))
	devAddr, _ := wire.EncodeAddress("tlyd", devPKH)
	mainAddr, _ := wire.EncodeAddress("tly", devPKH)
	rAddr, _ := wire.EncodeAddress("tlyd", rpkh)
	var sb strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	p("dev private key %x\ndev pubkey %x\ndev pkh %x\ndev addr %s\nsame pkh on main %s\n", k, pub, devPKH, devAddr, mainAddr)
	p("recipient pubkey %x\nrecipient pkh %x\nrecipient addr %s\n", rpub, rpkh, rAddr)
	p("sighash %s\nzeroed %x\ntxid %s\nsize %d\n\n", msg, tx.AppendEncoding(nil, true), tx.TxID(), tx.SerializeSize())
	p("%s\n", txTable(tx.Encode(), 0))
	b := blk.Encode()
	p("block id %s root %s nonce %d size %d\n", blk.BlockID(), blk.Header.MerkleRoot, blk.Header.Nonce, len(b))
	ids := blk.TxIDs()
	p("txids %s %s leaves %s %s\n", ids[0], ids[1], wire.MerkleLeaf(ids[0]), wire.MerkleLeaf(ids[1]))
	p("%s\n", headerTable(b[:88]))
	cbLen := blk.Txs[0].SerializeSize()
	p("| 88 | `%x` | tx count | %d |\n", b[88:89], len(blk.Txs))
	p("%s\n", txTable(b[89:89+cbLen], 89))
	p("block hex %x\ntx hex %x\n", b, tx.Encode())
	p("proof %x\n", docProof(t, blk))
	t.Log("\n" + sb.String())
}

func row(sb *strings.Builder, off int, b []byte, field, value string) {
	fmt.Fprintf(sb, "| %d | `%x` | %s | %s |\n", off, b, field, value)
}

func headerTable(b []byte) string {
	var sb strings.Builder
	row(&sb, 0, b[0:4], "version", fmt.Sprint(binary.LittleEndian.Uint32(b)))
	row(&sb, 4, b[4:36], "previous block id", "")
	row(&sb, 36, b[36:68], "Merkle root", "")
	row(&sb, 68, b[68:76], "time", fmt.Sprint(binary.LittleEndian.Uint64(b[68:])))
	row(&sb, 76, b[76:80], "bits", fmt.Sprintf("0x%08x", binary.LittleEndian.Uint32(b[76:])))
	row(&sb, 80, b[80:88], "nonce", fmt.Sprint(binary.LittleEndian.Uint64(b[80:])))
	return sb.String()
}

func txTable(b []byte, base int) string {
	var sb strings.Builder
	tx, err := wire.DecodeTx(b)
	if err != nil {
		return err.Error()
	}
	o := 0
	put := func(n int, field, value string) {
		row(&sb, base+o, b[o:o+n], field, value)
		o += n
	}
	put(4, "version", fmt.Sprint(tx.Version))
	put(len(uvar(uint64(len(tx.Inputs)))), "n_in (varint)", fmt.Sprint(len(tx.Inputs)))
	for i, in := range tx.Inputs {
		put(32, fmt.Sprintf("input %d prev_txid", i), "")
		put(4, fmt.Sprintf("input %d prev_index", i), fmt.Sprint(in.Prev.Index))
		put(33, fmt.Sprintf("input %d pubkey", i), "")
		put(32, fmt.Sprintf("input %d sig r", i), "")
		put(32, fmt.Sprintf("input %d sig s", i), "")
	}
	put(len(uvar(uint64(len(tx.Outputs)))), "n_out (varint)", fmt.Sprint(len(tx.Outputs)))
	for i, out := range tx.Outputs {
		put(8, fmt.Sprintf("output %d amount", i), fmt.Sprint(out.Amount))
		put(20, fmt.Sprintf("output %d pkh", i), "")
	}
	put(8, "lock_time", fmt.Sprint(tx.LockTime))
	put(len(uvar(uint64(len(tx.Extra)))), "extra length (varint)", fmt.Sprint(len(tx.Extra)))
	put(len(tx.Extra), "extra", fmt.Sprintf("%q", tx.Extra))
	return sb.String()
}
