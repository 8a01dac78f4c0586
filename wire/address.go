package wire

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/bech32"
	//lint:ignore SA1019 RIPEMD-160 is fixed by the protocol (pkh).
	"golang.org/x/crypto/ripemd160"
)

// Hash160 returns RIPEMD-160(SHA-256(b)), the pkh of a public key.
func Hash160(b []byte) [20]byte {
	s := sha256.Sum256(b)
	h := ripemd160.New()
	h.Write(s[:])
	var out [20]byte
	copy(out[:], h.Sum(nil))
	return out
}

// addressVersion is the 5-bit group that starts every address's data.
const addressVersion = 0

// EncodeAddress returns the bech32m address of pkh with the given HRP.
func EncodeAddress(hrp string, pkh [20]byte) (string, error) {
	conv, err := bech32.ConvertBits(pkh[:], 8, 5, true)
	if err != nil {
		return "", err
	}
	return bech32.EncodeM(hrp, append([]byte{addressVersion}, conv...))
}

// ErrBadAddress is wrapped by every address decoding error.
var ErrBadAddress = errors.New("invalid address")

// addressDataChars is the number of characters after the separator: the
// version, 32 groups of 5 bits for the 20-byte pkh, 6 of checksum.
const addressDataChars = 1 + 32 + 6

// bech32Charset is the alphabet of the characters after the separator.
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// badAddress returns an error wrapping ErrBadAddress for addr.
func badAddress(addr, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrBadAddress, addr, fmt.Sprintf(format, args...))
}

// DecodeAddress parses a bech32m address and checks its HRP, checksum
// variant, version and length.
//
// Its errors say what is wrong (prefix, length, a character addresses
// never use, checksum) in its own words and never quote the checksum that
// the text would need: the bech32 library's checksum error names it, and
// a user who pasted it over a mistyped address would pay a key nobody
// holds.
func DecodeAddress(hrp, addr string) ([20]byte, error) {
	var pkh [20]byte
	if addr == "" {
		return pkh, fmt.Errorf("%w: empty", ErrBadAddress)
	}
	if len(addr) > 200 {
		return pkh, fmt.Errorf("%w: %d characters, an address of this network has %d", ErrBadAddress, len(addr), len(hrp)+1+addressDataChars)
	}
	lower := strings.ToLower(addr)
	if lower != addr && strings.ToUpper(addr) != addr {
		return pkh, badAddress(addr, "mixes upper and lower case")
	}
	sep := strings.LastIndexByte(lower, '1')
	if sep < 1 {
		return pkh, badAddress(addr, "not an address: it has no prefix and separator (addresses of this network start with %q)", hrp+"1")
	}
	if got := lower[:sep]; got != hrp {
		return pkh, badAddress(addr, "prefix %q, this network's addresses start with %q (an address of another network?)", got, hrp+"1")
	}
	if want := len(hrp) + 1 + addressDataChars; len(lower) != want {
		return pkh, badAddress(addr, "%d characters, an address of this network has %d (a character is missing or extra)", len(lower), want)
	}
	for i := sep + 1; i < len(lower); i++ {
		if !strings.ContainsRune(bech32Charset, rune(lower[i])) {
			return pkh, badAddress(addr, "character %q at position %d never occurs in an address (probably a typo)", addr[i], i+1)
		}
	}
	_, data, version, err := bech32.DecodeGeneric(lower)
	if err != nil {
		// The library's text may hold the expected checksum: never show it.
		return pkh, badAddress(addr, "checksum mismatch: probably a typo; compare it with the original character by character")
	}
	if version != bech32.VersionM {
		return pkh, badAddress(addr, "not a bech32m checksum: probably a typo; compare it with the original character by character")
	}
	if len(data) < 1 || data[0] != addressVersion {
		return pkh, badAddress(addr, "unknown address version")
	}
	conv, err := bech32.ConvertBits(data[1:], 5, 8, false)
	if err != nil || len(conv) != 20 {
		return pkh, badAddress(addr, "payload is not a 20-byte key hash")
	}
	copy(pkh[:], conv)
	return pkh, nil
}
