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
