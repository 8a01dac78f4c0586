package wallet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// testSeed is bytes 0x00..0x1f.
func testSeed() []byte {
	s := make([]byte, SeedSize)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

// The vector was computed independently of this package (a short Python
// program with its own secp256k1, HMAC-SHA512, RIPEMD-160 and bech32m).
func TestDeriveKeyVector(t *testing.T) {
	want := []struct {
		key, pub, pkh, addr string
	}{
		{"56fa1b0f710765b8342250f0912aa4ec6bd00873d27375b27e07b09bc69c4b7b",
			"02a922e489295e102d375aa5af99e8b3884aa857f48ae48e2ec0dc9030362d93b8",
			"ddd4b362612dd06f15bc34417f9cc2e5e8812552",
			"tly1qmh2txcnp9hgx79dux3qhl8xzuh5gzf2jld5txh"},
		{"2e521e611522a4e86ad7b3b881c709842797b3de0cceb5f28a8048830a3004ee",
			"032671733c6730b047aa0e934bdfb52a90470f897fd9d70eca625435fe0a5101c8",
			"f50789f3151d45940737e7ed443d7330217af707",
			"tly1q75rcnuc4r4zegpehulk5g0tnxqsh4ac8x7tn6x"},
		{"9fd73a90b4238713459c771274b71435e5bb062e4521ab8afceea669fe14b154",
			"032419c666b8932b79f843277f0f5dc0224e710f607bafa39a99c56b417f95a60e",
			"1e4e6ce4119231a0cd072536f4100036700e8b19",
			"tly1qre8xeeq3jgc6png8y5m0gyqqxecqazceg5yw9g"},
	}
	seen := map[string]bool{}
	for i, w := range want {
		k, err := DeriveKey(testSeed(), uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(k.Serialize()); got != w.key {
			t.Errorf("index %d: key %s, want %s", i, got, w.key)
		}
		pub := PubKeyBytes(k)
		if got := hex.EncodeToString(pub[:]); got != w.pub {
			t.Errorf("index %d: pubkey %s, want %s", i, got, w.pub)
		}
		pkh := KeyPKH(k)
		if got := hex.EncodeToString(pkh[:]); got != w.pkh {
			t.Errorf("index %d: pkh %s, want %s", i, got, w.pkh)
		}
		addr, err := KeyAddress("tly", k)
		if err != nil || addr != w.addr {
			t.Errorf("index %d: address %s (%v), want %s", i, addr, err, w.addr)
		}
		if seen[addr] {
			t.Errorf("index %d: address repeated", i)
		}
		seen[addr] = true
	}
	// Another seed gives other keys; the same seed gives the same key.
	other := testSeed()
	other[31] ^= 1
	k0, _ := DeriveKey(testSeed(), 0)
	k0b, _ := DeriveKey(testSeed(), 0)
	k0o, _ := DeriveKey(other, 0)
	if !k0.Key.Equals(&k0b.Key) || k0.Key.Equals(&k0o.Key) {
		t.Error("derivation is not a deterministic function of the seed")
	}
	if _, err := DeriveKey(make([]byte, 31), 0); !errors.Is(err, ErrBadSeed) {
		t.Errorf("short seed: %v", err)
	}
}

func TestSeedEncoding(t *testing.T) {
	seed := testSeed()
	enc := EncodeSeed(seed)
	const want = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f630dcd29"
	if enc != want {
		t.Fatalf("EncodeSeed = %s, want %s", enc, want)
	}
	for _, s := range []string{enc, strings.ToUpper(enc), "  " + enc + "\n",
		enc[:8] + " " + enc[8:16] + "-" + enc[16:]} {
		got, err := DecodeSeed(s)
		if err != nil || !bytes.Equal(got, seed) {
			t.Errorf("DecodeSeed(%q) = %x, %v", s, got, err)
		}
	}
	typo := []byte(enc)
	typo[10] = '7' // was 0x05's '5'
	bad := map[string]string{
		"typo":               string(typo),
		"swapped digits":     enc[:2] + enc[3:4] + enc[2:3] + enc[4:],
		"checksum typo":      enc[:71] + "8",
		"missing digit":      enc[:71],
		"extra digit":        enc + "0",
		"no checksum":        enc[:64],
		"not hex":            enc[:5] + "g" + enc[6:],
		"empty":              "",
		"letter o for zero":  "o" + enc[1:],
		"zero-width garbage": enc[:30] + "\u200b" + enc[30:],
	}
	for name, s := range bad {
		_, err := DecodeSeed(s)
		if !errors.Is(err, ErrBadSeed) {
			t.Errorf("%s: DecodeSeed error %v, want ErrBadSeed", name, err)
		}
	}
	if _, err := DecodeSeed(string(typo)); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("typo error should mention the checksum: %v", err)
	}

	s1, err := NewSeed(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil || len(s1) != SeedSize || s1[0] != 7 {
		t.Errorf("NewSeed = %x, %v", s1, err)
	}
	if _, err := NewSeed(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("NewSeed with a short random source succeeded")
	}
	if _, err := NewSeed(bytes.NewReader(make([]byte, 32))); err == nil {
		t.Error("NewSeed accepted an all-zero seed")
	}
}
