package wallet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tally/wire"
)

// The BIP 39 English vector: 12 words, passphrase "TREZOR".
const (
	vectorWords = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	vectorSeed  = "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
)

func TestMnemonicSeedVector(t *testing.T) {
	seed, err := MnemonicSeed("  ABANDON "+strings.Replace(vectorWords, "abandon ", "", 1)+"\n", "TREZOR")
	if err != nil || hex.EncodeToString(seed) != vectorSeed {
		t.Fatalf("seed %x, %v", seed, err)
	}
}

func TestMnemonicErrors(t *testing.T) {
	words := strings.Fields(vectorWords)
	for _, c := range []struct{ in, says string }{
		{strings.Join(words[:11], " "), "11 words"},
		{strings.Replace(vectorWords, "about", "abuot", 1), `word 12 ("abuot")`},
		// A valid word in place of the checksum word.
		{strings.Replace(vectorWords, "about", "above", 1), "checksum"},
	} {
		_, err := MnemonicSeed(c.in, "")
		if !errors.Is(err, ErrBadMnemonic) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: %v, want it to say %q", c.in, err, c.says)
		}
	}
	m, err := NewMnemonic(bytes.NewReader(bytes.Repeat([]byte{7}, 32)), 24)
	if err != nil || len(strings.Fields(m)) != 24 {
		t.Fatalf("24 words: %q %v", m, err)
	}
	if _, err := MnemonicSeed(m, ""); err != nil {
		t.Fatal(err)
	}
}

// TestHDKeystore: a BIP 32 keystore derives receive and change addresses
// on their own chains, keeps them across Save and Open, and derives the
// same keys as hdkeychain at m/44'/7611'/0'/c/i.
func TestHDKeystore(t *testing.T) {
	seed, _ := MnemonicSeed(vectorWords, "")
	path := filepath.Join(t.TempDir(), "w")
	w, err := Create(path, []byte("pw"), seed, testNet, cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := w.NewAddress(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := w.NewChangeAddress(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddressesUpTo(false, 14); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Open(path, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := got.Addresses()
	if len(addrs) != 15+2 {
		t.Fatalf("%d addresses", len(addrs))
	}
	chains, _ := newHDChains(seed)
	for _, a := range addrs {
		k, _ := chains.key(a.Change, a.Index)
		if KeyPKH(k) != a.PKH {
			t.Fatalf("address %+v does not match its path", a)
		}
		if d, err := got.DeriveAddress(a.Change, a.Index); err != nil || d.Address != a.Address {
			t.Fatalf("DeriveAddress(%v, %d) = %+v %v", a.Change, a.Index, d, err)
		}
	}
	if c, _ := got.NewChangeAddress(); !c.Change || c.Index != 2 {
		t.Fatalf("next change address %+v", c)
	}
	if r, _ := got.NewAddress(); r.Change || r.Index != 15 {
		t.Fatalf("next receive address %+v", r)
	}
	// Receive and change keys differ.
	r0, _ := got.DeriveAddress(false, 0)
	c0, _ := got.DeriveAddress(true, 0)
	if r0.PKH == c0.PKH {
		t.Fatal("receive and change chains give the same key")
	}
}

// TestLegacyKeystoreStillOpens reads a keystore written by the wallet as
// it was before BIP 39 (testdata/legacy-v1.keystore: the 32-byte seed
// 0x42..., three derived addresses, the dev key imported, passphrase
// "old", no public part) and spends with it.
func TestLegacyKeystoreStillOpens(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "legacy-v1.keystore"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPublic(path); !errors.Is(err, ErrNoPublicData) {
		t.Fatalf("OpenPublic of a legacy keystore: %v", err)
	}
	w, err := Open(path, []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tlyd1qfwsy98c4j8zr475gpdyxa3mg7mux9m3a82vh7u", "tlyd1qx5gme65mn9jl0ewzv9jyw0s27uu2sx9m7rak34", "tlyd1qqca8zahe0pw7z5pckh748c305rakdsyj7tg64e"}
	addrs := w.Addresses()
	if len(addrs) != 4 || addrs[0].Label != "first" || !addrs[3].Imported {
		t.Fatalf("addresses %+v", addrs)
	}
	for i, a := range want {
		if addrs[i].Address != a {
			t.Fatalf("address %d is %s, want %s", i, addrs[i].Address, a)
		}
	}
	// It still derives on its one chain, and signs.
	a, err := w.NewChangeAddress()
	if err != nil || a.Index != 3 || a.Change {
		t.Fatalf("change address of a legacy seed: %+v %v", a, err)
	}
	coin := UTXO{OutPoint: wire.OutPoint{TxID: wire.Hash{1}}, Amount: 1000, PKH: addrs[1].PKH, Confirmations: 1}
	if _, err := BuildAndSign([]UTXO{coin}, []wire.TxOut{{Amount: 900, PKH: a.PKH}}, wire.TxOut{}, w.KeyFor, [4]byte{1, 2, 3, 4}, nil); err != nil {
		t.Fatal(err)
	}
	// Saving adds the public part; the next open needs no passphrase.
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	if pub, err := OpenPublic(path); err != nil || len(pub.Addresses) != 5 {
		t.Fatalf("OpenPublic after a save: %+v %v", pub, err)
	}
}
