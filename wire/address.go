package wire

import (
	"crypto/sha256"
	"errors"
	"fmt"

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

// DecodeAddress parses a bech32m address and checks its HRP, checksum
// variant, version and length.
func DecodeAddress(hrp, addr string) ([20]byte, error) {
	var pkh [20]byte
	gotHRP, data, version, err := bech32.DecodeGeneric(addr)
	if err != nil {
		return pkh, fmt.Errorf("%w %q: %v", ErrBadAddress, addr, err)
	}
	if version != bech32.VersionM {
		return pkh, fmt.Errorf("%w %q: not a bech32m checksum", ErrBadAddress, addr)
	}
	if gotHRP != hrp {
		return pkh, fmt.Errorf("%w %q: prefix %q, this network uses %q", ErrBadAddress, addr, gotHRP, hrp)
	}
	if len(data) < 1 || data[0] != addressVersion {
		return pkh, fmt.Errorf("%w %q: unknown address version", ErrBadAddress, addr)
	}
	conv, err := bech32.ConvertBits(data[1:], 5, 8, false)
	if err != nil || len(conv) != 20 {
		return pkh, fmt.Errorf("%w %q: payload is not a 20-byte key hash", ErrBadAddress, addr)
	}
	copy(pkh[:], conv)
	return pkh, nil
}
