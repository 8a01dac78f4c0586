package wallet

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/tyler-smith/go-bip39"
)

// Keys of wallets made since BIP 39 support come from a mnemonic (BIP 39,
// English list) through BIP 32 at m/44'/7611'/0'/c/i: purpose 44, coin
// type 7611 (Tally), account 0, chain c (0 receive, 1 change), index i
// (SPEC section 8). Keystores made before keep their 32-byte seed and
// DeriveKey's scheme, and keep opening and spending.
const (
	bip44Purpose = 44
	// CoinType is Tally's BIP 44 coin type.
	CoinType = 7611
	// HDSeedSize is the size of a BIP 39 seed (PBKDF2-HMAC-SHA512 output).
	HDSeedSize = 64
	// GapLimit is the number of unused addresses in a row after which a
	// restore stops scanning a chain (BIP 44).
	GapLimit = 20
)

// ErrBadMnemonic is wrapped by every mnemonic error.
var ErrBadMnemonic = errors.New("invalid recovery words")

// NewMnemonic returns a fresh mnemonic of words words (12 or 24) with
// entropy read from rand (crypto/rand.Reader for real wallets).
func NewMnemonic(rand io.Reader, words int) (string, error) {
	var size int
	switch words {
	case 12:
		size = 16
	case 24:
		size = 32
	default:
		return "", fmt.Errorf("%w: %d words; choose 12 or 24", ErrBadMnemonic, words)
	}
	entropy := make([]byte, size)
	defer clear(entropy)
	if _, err := io.ReadFull(rand, entropy); err != nil {
		return "", fmt.Errorf("reading random entropy: %w", err)
	}
	return bip39.NewMnemonic(entropy)
}

// MnemonicSeed checks mnemonic (words separated by any white space, any
// case) and returns its BIP 39 seed under the optional BIP 39 passphrase.
// Errors say which word is unknown, or that the checksum word does not
// match (a word mistyped or out of order), never what would fix it.
func MnemonicSeed(mnemonic, passphrase string) ([]byte, error) {
	words := strings.Fields(strings.ToLower(mnemonic))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return nil, fmt.Errorf("%w: %d words; a recovery phrase has 12 or 24 (or 15, 18, 21)", ErrBadMnemonic, len(words))
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return nil, fmt.Errorf("%w: word %d (%q) is not in the BIP 39 English list", ErrBadMnemonic, i+1, w)
		}
	}
	normalized := strings.Join(words, " ")
	seed, err := bip39.NewSeedWithErrorChecking(normalized, passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: the checksum does not match: a word is mistyped or out of order", ErrBadMnemonic)
	}
	return seed, nil
}

// hdChains holds the two chain keys of account 0, m/44'/7611'/0'/0 and
// .../1, from which addresses are derived without the hardened steps.
type hdChains [2]*hdkeychain.ExtendedKey

// newHDChains derives the chain keys from a BIP 39 seed.
func newHDChains(seed []byte) (hdChains, error) {
	var c hdChains
	if len(seed) != HDSeedSize {
		return c, fmt.Errorf("%w: BIP 32 seed of %d bytes, want %d", ErrBadSeed, len(seed), HDSeedSize)
	}
	// The network parameters only pick the version bytes of serialized
	// extended keys, which the wallet never serializes.
	k, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadSeed, err)
	}
	for _, i := range []uint32{hdkeychain.HardenedKeyStart + bip44Purpose, hdkeychain.HardenedKeyStart + CoinType, hdkeychain.HardenedKeyStart} {
		if k, err = k.Derive(i); err != nil {
			return c, err
		}
	}
	for ch := range c {
		if c[ch], err = k.Derive(uint32(ch)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// key derives the private key at index on chain change (0 or 1).
func (c hdChains) key(change bool, index uint32) (*secp256k1.PrivateKey, error) {
	ch := 0
	if change {
		ch = 1
	}
	if index >= hdkeychain.HardenedKeyStart {
		return nil, fmt.Errorf("address index %d out of range", index)
	}
	k, err := c[ch].Derive(index)
	if err != nil {
		// Probability about 2^-127 (BIP 32: skip to the next index).
		return nil, fmt.Errorf("deriving index %d: %w", index, err)
	}
	priv, err := k.ECPrivKey()
	if err != nil {
		return nil, err
	}
	return secp256k1.PrivKeyFromBytes(priv.Serialize()), nil
}
