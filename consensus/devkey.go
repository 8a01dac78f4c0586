package consensus

import (
	"crypto/sha256"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/wire"
)

// devKeySeed is hashed into the dev key. The key is public on purpose:
// anyone can spend the dev network's allocation.
const devKeySeed = "tally dev key"

// DevPrivateKey returns the dev key, the secp256k1 private key whose 32
// bytes are SHA-256("tally dev key") (SPEC section 3). The dev network's
// genesis allocation pays to it.
func DevPrivateKey() *secp256k1.PrivateKey {
	seed := sha256.Sum256([]byte(devKeySeed))
	return secp256k1.PrivKeyFromBytes(seed[:])
}

// DevPKH returns the public key hash of the dev key.
func DevPKH() [20]byte {
	return wire.Hash160(DevPrivateKey().PubKey().SerializeCompressed())
}
