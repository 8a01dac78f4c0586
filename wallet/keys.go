package wallet

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/wire"
)

// SeedSize is the size of a wallet seed in bytes.
const SeedSize = 32

// seedChecksumSize is the number of SHA-256 bytes appended to an encoded
// seed (8 hex digits).
const seedChecksumSize = 4

// EncodedSeedLen is the length of an encoded seed: 64 hex digits of seed
// then 8 hex digits of checksum.
const EncodedSeedLen = 2 * (SeedSize + seedChecksumSize)

// keyDomain starts every message DeriveKey authenticates.
const keyDomain = "tally key"

// ErrBadSeed is wrapped by every seed decoding or validation error.
var ErrBadSeed = errors.New("invalid seed")

// NewSeed reads a fresh SeedSize-byte seed from rand (crypto/rand.Reader
// for real wallets).
func NewSeed(rand io.Reader) ([]byte, error) {
	seed := make([]byte, SeedSize)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("reading random seed: %w", err)
	}
	if bytes.Equal(seed, make([]byte, SeedSize)) {
		return nil, errors.New("random source returned an all-zero seed")
	}
	return seed, nil
}

// seedChecksum returns the first 4 bytes of SHA-256(seed).
func seedChecksum(seed []byte) []byte {
	sum := sha256.Sum256(seed)
	return sum[:seedChecksumSize]
}

// EncodeSeed returns the form of seed shown to the user for backup: the 64
// lowercase hex digits of the seed followed by 8 hex digits of checksum, the
// first 4 bytes of SHA-256(seed). It panics if seed is not SeedSize bytes.
func EncodeSeed(seed []byte) string {
	if len(seed) != SeedSize {
		panic(fmt.Sprintf("wallet: EncodeSeed of %d bytes, want %d", len(seed), SeedSize))
	}
	return hex.EncodeToString(seed) + hex.EncodeToString(seedChecksum(seed))
}

// DecodeSeed parses the form EncodeSeed prints. Digits may be upper or
// lower case; spaces, tabs, newlines and '-' between them are ignored, so a
// seed written down in groups can be typed back as written. A wrong length,
// a non-hex character or a checksum mismatch (a mistyped digit) is an error
// wrapping ErrBadSeed that says which.
func DecodeSeed(s string) ([]byte, error) {
	digits := make([]byte, 0, EncodedSeedLen)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-':
			continue
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			digits = append(digits, c)
		default:
			return nil, fmt.Errorf("%w: character %q at position %d is not a hex digit", ErrBadSeed, c, i+1)
		}
	}
	if len(digits) != EncodedSeedLen {
		return nil, fmt.Errorf("%w: %d hex digits, want %d (64 of seed and 8 of checksum)", ErrBadSeed, len(digits), EncodedSeedLen)
	}
	raw := make([]byte, SeedSize+seedChecksumSize)
	if _, err := hex.Decode(raw, digits); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSeed, err)
	}
	seed := raw[:SeedSize]
	if !bytes.Equal(raw[SeedSize:], seedChecksum(seed)) {
		return nil, fmt.Errorf("%w: checksum does not match; a digit is mistyped or missing", ErrBadSeed)
	}
	return seed, nil
}

// DeriveKey returns child private key index of seed. The scheme, fixed so
// that a seed restores the same keys in any implementation:
//
//	msg_0 = "tally key" || u32 big-endian index               (13 bytes)
//	msg_c = "tally key" || u32 big-endian index || u32 BE c    (17 bytes, c >= 1)
//	I     = HMAC-SHA512(key = seed, msg_c) for c = 0, 1, 2, ...
//	k     = the left 32 bytes of I read as a big-endian integer
//
// The first c for which 1 <= k < n (n the secp256k1 group order) gives the
// key k; otherwise the next c is tried (probability about 2^-128 per try,
// so in practice c = 0). Rejecting rather than reducing keeps k uniform.
// The right half of I is unused.
func DeriveKey(seed []byte, index uint32) (*secp256k1.PrivateKey, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadSeed, len(seed), SeedSize)
	}
	msg := make([]byte, 0, len(keyDomain)+8)
	msg = append(msg, keyDomain...)
	msg = binary.BigEndian.AppendUint32(msg, index)
	base := len(msg)
	mac := hmac.New(sha512.New, seed)
	for c := uint32(0); ; c++ {
		msg = msg[:base]
		if c > 0 {
			msg = binary.BigEndian.AppendUint32(msg, c)
		}
		mac.Reset()
		mac.Write(msg)
		sum := mac.Sum(nil)
		var k secp256k1.ModNScalar
		overflow := k.SetByteSlice(sum[:32])
		clear(sum)
		if !overflow && !k.IsZero() {
			return secp256k1.NewPrivateKey(&k), nil
		}
	}
}

// PubKeyBytes returns the 33-byte compressed public key of key, as an
// input's pubkey field holds it.
func PubKeyBytes(key *secp256k1.PrivateKey) [wire.PubKeySize]byte {
	var pk [wire.PubKeySize]byte
	copy(pk[:], key.PubKey().SerializeCompressed())
	return pk
}

// KeyPKH returns the public key hash of key: wire.Hash160 of its
// compressed public key.
func KeyPKH(key *secp256k1.PrivateKey) [20]byte {
	pk := PubKeyBytes(key)
	return wire.Hash160(pk[:])
}

// KeyAddress returns the address of key on the network with address
// prefix (bech32 HRP) hrp.
func KeyAddress(hrp string, key *secp256k1.PrivateKey) (string, error) {
	return wire.EncodeAddress(hrp, KeyPKH(key))
}
