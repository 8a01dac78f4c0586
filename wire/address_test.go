package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/bech32"

	"tally/wire"
)

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

func TestHash160Vectors(t *testing.T) {
	vectors := map[string]string{
		// RIPEMD160(SHA256("")).
		"": "b472a266d0bd89c13706a4132ccfb16f7c3b9fcb",
		// The generator point G compressed: BIP-173's P2WPKH example.
		"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798": "751e76e8199196d454941c45d1b3a323f1433bd6",
	}
	for in, want := range vectors {
		got := wire.Hash160(mustHex(t, in))
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("Hash160(%s) = %x, want %s", in, got, want)
		}
	}
}

// TestAddressKnownVector uses BIP-350's own data: "bc" + version 0 + the
// 20-byte program 751e76e8...3bd6 is exactly Tally's address layout. BIP-173
// gives its bech32 form; BIP-350 lists the bech32m form (as an invalid
// segwit address, which is precisely what makes it a valid Tally address).
func TestAddressKnownVector(t *testing.T) {
	var pkh [20]byte
	copy(pkh[:], mustHex(t, "751e76e8199196d454941c45d1b3a323f1433bd6"))
	const (
		bech32mAddr = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh" // BIP-350
		bech32Addr  = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4" // BIP-173
	)
	got, err := wire.EncodeAddress("bc", pkh)
	if err != nil || got != bech32mAddr {
		t.Fatalf("EncodeAddress = %q, %v; want %q", got, err, bech32mAddr)
	}
	if dec, err := wire.DecodeAddress("bc", bech32mAddr); err != nil || dec != pkh {
		t.Fatalf("DecodeAddress(%s) = %x, %v", bech32mAddr, dec, err)
	}
	if _, err := wire.DecodeAddress("bc", bech32Addr); !errors.Is(err, wire.ErrBadAddress) {
		t.Fatalf("bech32 (not bech32m) address accepted: %v", err)
	}
	// BIP-350 requires decoders to take an all-uppercase string too.
	if dec, err := wire.DecodeAddress("bc", strings.ToUpper(bech32mAddr)); err != nil || dec != pkh {
		t.Fatalf("uppercase address refused: %v", err)
	}
}

func TestAddressRoundTrip(t *testing.T) {
	for _, hrp := range []string{"tly", "tlyd", "x"} {
		for _, pkh := range [][20]byte{{}, seqPKH(0xa0), wire.Hash160([]byte("key")), seqPKH(0xec)} {
			addr, err := wire.EncodeAddress(hrp, pkh)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(addr, hrp+"1q") || addr != strings.ToLower(addr) {
				t.Fatalf("%s: address %s does not start with %s1q (version 0) in lowercase", hrp, addr, hrp)
			}
			if len(addr) != len(hrp)+1+33+6 {
				t.Fatalf("address %s has length %d", addr, len(addr))
			}
			got, err := wire.DecodeAddress(hrp, addr)
			if err != nil || got != pkh {
				t.Fatalf("DecodeAddress(%s) = %x, %v; want %x", addr, got, err, pkh)
			}
		}
	}
}

func wantBadAddress(t *testing.T, hrp, addr, why string) {
	t.Helper()
	_, err := wire.DecodeAddress(hrp, addr)
	if err == nil {
		t.Fatalf("%s: %q accepted", why, addr)
	}
	if !errors.Is(err, wire.ErrBadAddress) {
		t.Fatalf("%s: error %v does not wrap ErrBadAddress", why, err)
	}
}

func TestAddressRejects(t *testing.T) {
	pkh := wire.Hash160([]byte("some public key"))
	addr, err := wire.EncodeAddress("tly", pkh)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := bech32.ConvertBits(pkh[:], 8, 5, true)
	if err != nil {
		t.Fatal(err)
	}

	wantBadAddress(t, "tlyd", addr, "wrong HRP")
	wantBadAddress(t, "tl", addr, "shorter HRP")
	other, _ := wire.EncodeAddress("tlyd", pkh)
	wantBadAddress(t, "tly", other, "dev address on the main network")

	// Every single-character substitution is caught (BCH distance).
	for i := range addr {
		if addr[i] == '1' && i == len("tly") {
			continue // the separator
		}
		for _, c := range bech32Charset + "bio1T" {
			if byte(c) == addr[i] {
				continue
			}
			typo := addr[:i] + string(c) + addr[i+1:]
			wantBadAddress(t, "tly", typo, "one-character typo")
		}
	}
	// Swapped neighbours, a dropped and an inserted character.
	for i := len("tly1"); i+1 < len(addr); i++ {
		if addr[i] != addr[i+1] {
			wantBadAddress(t, "tly", addr[:i]+addr[i+1:i+2]+addr[i:i+1]+addr[i+2:], "transposition")
		}
		wantBadAddress(t, "tly", addr[:i]+addr[i+1:], "dropped character")
		wantBadAddress(t, "tly", addr[:i]+"q"+addr[i:], "inserted character")
	}
	wantBadAddress(t, "tly", addr[:10]+strings.ToUpper(addr[10:]), "mixed case")

	// The same data with a bech32 checksum instead of bech32m.
	b32, err := bech32.Encode("tly", append([]byte{0}, conv...))
	if err != nil {
		t.Fatal(err)
	}
	if b32[:len(b32)-6] != addr[:len(addr)-6] {
		t.Fatalf("bech32 and bech32m forms differ before the checksum: %s %s", b32, addr)
	}
	wantBadAddress(t, "tly", b32, "bech32 checksum")

	// Version other than 0.
	for _, v := range []byte{1, 16, 31} {
		s, err := bech32.EncodeM("tly", append([]byte{v}, conv...))
		if err != nil {
			t.Fatal(err)
		}
		wantBadAddress(t, "tly", s, "address version "+string(bech32Charset[v]))
	}

	// Payloads that are not 20 bytes, and non-zero padding bits.
	for _, n := range []int{0, 1, 19, 21, 32} {
		c, err := bech32.ConvertBits(bytes.Repeat([]byte{0x5a}, n), 8, 5, true)
		if err != nil {
			t.Fatal(err)
		}
		s, err := bech32.EncodeM("tly", append([]byte{0}, c...))
		if err != nil {
			t.Fatal(err)
		}
		wantBadAddress(t, "tly", s, "payload length")
	}
	s, _ := bech32.EncodeM("tly", append([]byte{0}, append(conv, 0)...))
	wantBadAddress(t, "tly", s, "an extra 5-bit group")
	s, _ = bech32.EncodeM("tly", nil)
	wantBadAddress(t, "tly", s, "no data")

	for _, junk := range []string{"", "tly1", "1qqqqqq", "tly1" + strings.Repeat("q", 100), "tly" + addr[3:] + " ", "tly" + addr[4:]} {
		wantBadAddress(t, "tly", junk, "junk")
	}
}

// TestAddressErrorsHideTheChecksum plays the user who pastes text from an
// error message over a mistyped address: for typos of every kind (one
// character changed, two neighbours swapped, another network's prefix)
// the message must say what is wrong and hold nothing that, appended to
// the typo or put in place of its tail, makes a valid address. The bech32
// library's own message names the expected checksum, which fails this.
func TestAddressErrorsHideTheChecksum(t *testing.T) {
	const hrp = "tly"
	pkh := wire.Hash160([]byte("a payee"))
	addr, _ := wire.EncodeAddress(hrp, pkh)
	var typos []string
	for i := len(hrp) + 1; i < len(addr); i++ {
		for _, c := range bech32Charset {
			if byte(c) != addr[i] {
				typos = append(typos, addr[:i]+string(c)+addr[i+1:])
			}
		}
		if i+1 < len(addr) && addr[i] != addr[i+1] {
			typos = append(typos, addr[:i]+addr[i+1:i+2]+addr[i:i+1]+addr[i+2:])
		}
	}
	other, _ := wire.EncodeAddress("tlyd", pkh)
	typos = append(typos, other, "tlx"+addr[3:])
	valid := func(s string) bool { _, err := wire.DecodeAddress(hrp, s); return err == nil }
	for _, typo := range typos {
		_, err := wire.DecodeAddress(hrp, typo)
		if err == nil {
			t.Fatalf("typo %s accepted", typo)
		}
		msg := err.Error()
		// The checksum that would make the typo's text valid, anywhere
		// but in the quoted typo itself.
		rest := strings.ReplaceAll(msg, typo, "")
		if sep := strings.LastIndexByte(typo, '1'); sep > 0 {
			if fixed, ferr := bech32.EncodeM(typo[:sep], dataOf(typo[sep+1:len(typo)-6])); ferr == nil && strings.Contains(rest, fixed[len(fixed)-6:]) {
				t.Fatalf("%s: the message %q holds the checksum %s", typo, msg, fixed[len(fixed)-6:])
			}
		}
		tokens := strings.FieldsFunc(strings.ToLower(msg), func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
		})
		for _, tok := range tokens {
			cands := []string{typo + tok}
			for k := 1; k <= len(tok) && k < len(typo); k++ {
				cands = append(cands, typo[:len(typo)-k]+tok[len(tok)-k:], typo[:len(typo)-k]+tok[:k])
			}
			for _, c := range cands {
				if valid(c) {
					t.Fatalf("%s: text %q of the message %q makes the valid address %s", typo, tok, msg, c)
				}
			}
		}
	}
	// The kinds are told apart.
	for _, c := range []struct{ in, says string }{
		{addr[:10] + string(flip(addr[10])) + addr[11:], "probably a typo"},
		{other, "prefix"},
		{addr[:len(addr)-1], "characters"},
		{addr[:12] + "b" + addr[13:], "never occurs"},
	} {
		if _, err := wire.DecodeAddress(hrp, c.in); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want it to say %q", c.in, err, c.says)
		}
	}
}

// dataOf maps bech32 characters to their 5-bit values (unknown ones to 0).
func dataOf(s string) []byte {
	out := make([]byte, len(s))
	for i := range s {
		if j := strings.IndexByte(bech32Charset, s[i]); j >= 0 {
			out[i] = byte(j)
		}
	}
	return out
}

// flip returns another bech32 character than c.
func flip(c byte) byte {
	if c == 'q' {
		return 'p'
	}
	return 'q'
}

// FuzzDecodeAddress: any text either decodes to a pkh that encodes back
// to the same address (lowercased), or is refused with ErrBadAddress; and
// a refusal never quotes a valid address made from the input's data part
// with a corrected checksum.
func FuzzDecodeAddress(f *testing.F) {
	good, _ := wire.EncodeAddress("tly", wire.Hash160([]byte("seed")))
	for _, s := range []string{good, strings.ToUpper(good), good[:len(good)-1] + "q", "tlyd" + good[3:], "", "tly1", "1", "tly1bio"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pkh, err := wire.DecodeAddress("tly", s)
		if err != nil {
			if !errors.Is(err, wire.ErrBadAddress) {
				t.Fatalf("%q: error %v does not wrap ErrBadAddress", s, err)
			}
			if sep := strings.LastIndexByte(strings.ToLower(s), '1'); sep > 0 && len(s)-sep > 7 {
				lower := strings.ToLower(s)
				fixed, ferr := bech32.EncodeM(lower[:sep], dataOf(lower[sep+1:len(lower)-6]))
				if ferr == nil && strings.Contains(strings.ReplaceAll(err.Error(), s, ""), fixed[len(fixed)-6:]) {
					t.Fatalf("%q: the error %q holds the checksum %s", s, err, fixed[len(fixed)-6:])
				}
			}
			return
		}
		back, err := wire.EncodeAddress("tly", pkh)
		if err != nil || back != strings.ToLower(s) {
			t.Fatalf("%q decodes to %x, which encodes to %q (%v)", s, pkh, back, err)
		}
	})
}
