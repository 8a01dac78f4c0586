package consensus

import (
	"fmt"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"tally/wire"
)

// VerifySignature checks one input's signature over msg: the public key
// parses as a compressed secp256k1 key, r and s are in [1, n-1], s is low
// (s <= n/2), and the ECDSA signature verifies.
func VerifySignature(pubKey *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, msg wire.Hash) error {
	pk, err := secp256k1.ParsePubKey(pubKey[:])
	if err != nil {
		return ruleErr(ErrBadPubKey, "public key: %v", err)
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || r.IsZero() || s.SetByteSlice(sig[32:]) || s.IsZero() {
		return ruleErr(ErrSignatureRange, "signature r or s outside [1, n-1]")
	}
	if s.IsOverHalfOrder() {
		return ruleErr(ErrHighS, "signature s above n/2")
	}
	if !ecdsa.NewSignature(&r, &s).Verify(msg[:], pk) {
		return ruleErr(ErrBadSignature, "signature does not verify")
	}
	return nil
}

// SignInput returns the low-S r||s signature of msg by key (RFC 6979
// nonces; decred's Sign already produces low S).
func SignInput(key *secp256k1.PrivateKey, msg wire.Hash) [wire.SigSize]byte {
	sig := ecdsa.Sign(key, msg[:])
	var out [wire.SigSize]byte
	r, s := sig.R(), sig.S()
	r.PutBytesUnchecked(out[:32])
	s.PutBytesUnchecked(out[32:])
	return out
}

// SigCache remembers input signatures already verified, so a transaction
// checked on mempool acceptance is not checked again in its block. The key
// is the network id, the txid and the input index: the txid commits to the
// whole transaction (public keys and signatures included) and the network
// id completes the signature message, so a hit can only be the same
// signature by the same key over the same message. The key is kept as it
// is rather than hashed: Go's map hashing is seeded per process, and
// SHA-256 of every key cost more than the lookup. It is bounded; when
// full, an arbitrary entry is evicted. Safe for concurrent use. A nil
// *SigCache is a valid cache that remembers nothing.
type SigCache struct {
	mu      sync.RWMutex
	max     int
	entries map[sigCacheKey]struct{}
}

// sigCacheKey names one input's signature (see SigCache).
type sigCacheKey struct {
	network [4]byte
	index   uint32
	txid    wire.Hash
}

// NewSigCache returns a cache holding at most max entries.
func NewSigCache(max int) *SigCache {
	return &SigCache{max: max, entries: make(map[sigCacheKey]struct{}, min(max, 1<<16))}
}

func (c *SigCache) has(k sigCacheKey) bool {
	if c == nil {
		return false
	}
	c.mu.RLock()
	_, ok := c.entries[k]
	c.mu.RUnlock()
	return ok
}

func (c *SigCache) add(k sigCacheKey) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = struct{}{}
	c.mu.Unlock()
}

// Len returns the number of cached entries.
func (c *SigCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// CheckTxSignatures verifies every input signature of a non-coinbase
// transaction against its signature message on network networkID, skipping
// inputs the cache has already seen verified and adding those it verifies.
func CheckTxSignatures(tx *wire.Tx, txid wire.Hash, networkID [4]byte, cache *SigCache) error {
	var msg wire.Hash
	haveMsg := false
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		k := sigCacheKey{network: networkID, index: uint32(i), txid: txid}
		if cache.has(k) {
			continue
		}
		if !haveMsg {
			msg, haveMsg = wire.SigHash(tx, networkID), true
		}
		if err := VerifySignature(&in.PubKey, &in.Sig, msg); err != nil {
			return fmt.Errorf("transaction %s input %d: %w", txid, i, err)
		}
		cache.add(k)
	}
	return nil
}
