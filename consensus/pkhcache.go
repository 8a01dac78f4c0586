package consensus

import (
	"sync"

	"tally/wire"
)

// pkhCacheMax bounds the public key hash memo: about 100 bytes an entry,
// so under 1 MB.
const pkhCacheMax = 8192

// pkhCache memoizes Hash160 of public keys. A transaction's inputs are
// checked against their coins' pkh on mempool acceptance and again when
// its block connects, and wallets reuse keys across inputs and
// transactions, so the SHA-256 + RIPEMD-160 of a 33-byte key (about a
// microsecond and a half) is mostly recomputed for keys already hashed.
// It is a pure function memo: a hit returns exactly what Hash160 would,
// so no rule changes. When full, an arbitrary entry is evicted.
var pkhCache = struct {
	mu sync.RWMutex
	m  map[[wire.PubKeySize]byte][20]byte
}{m: make(map[[wire.PubKeySize]byte][20]byte)}

// pubKeyHash returns wire.Hash160 of pubKey, memoized.
func pubKeyHash(pubKey *[wire.PubKeySize]byte) [20]byte {
	pkhCache.mu.RLock()
	h, ok := pkhCache.m[*pubKey]
	pkhCache.mu.RUnlock()
	if ok {
		return h
	}
	h = wire.Hash160(pubKey[:])
	pkhCache.mu.Lock()
	if len(pkhCache.m) >= pkhCacheMax {
		for k := range pkhCache.m {
			delete(pkhCache.m, k)
			break
		}
	}
	pkhCache.m[*pubKey] = h
	pkhCache.mu.Unlock()
	return h
}
