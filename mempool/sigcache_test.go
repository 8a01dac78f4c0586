package mempool

import (
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/consensus"
	"tally/wire"
)

// TestSigCacheSharedWithChain: acceptance caches each input's signature
// under (txid, input index, pubkey); the block holding the transaction then
// connects through the same cache. A cache entry never lets a different
// transaction through: not one reusing the signature, not a malleated
// (high-S) copy, whether it comes to the pool or in a block.
func TestSigCacheSharedWithChain(t *testing.T) {
	f := newFixture(t, 4)
	before := f.sigs.Len()
	tx := f.g.Pay(f.coins[:2], 1, 1000) // two inputs
	f.mustAccept(tx)
	if got := f.sigs.Len() - before; got != 2 {
		t.Fatalf("accepting a 2-input tx added %d cache entries, want 2", got)
	}

	// The entries are keyed by tx's txid: checking any body under that
	// txid is a hit that verifies nothing. This is the path the block
	// takes (it computes the same txid from the same bytes).
	forged := *tx
	forged.Inputs = append([]wire.TxIn(nil), tx.Inputs...)
	forged.Inputs[0].Sig[10] ^= 1
	forged.Inputs[1].Sig[10] ^= 1
	if err := consensus.CheckTxSignatures(&forged, tx.TxID(), f.p.NetworkID, f.sigs); err != nil {
		t.Fatalf("cached entries not found under the txid: %v", err)
	}
	// Without the cache the same check fails: the hit above skipped work.
	if err := consensus.CheckTxSignatures(&forged, tx.TxID(), f.p.NetworkID, nil); err == nil {
		t.Fatal("forged signatures verify")
	}

	// The block holding tx connects with the shared cache, adding nothing.
	n := f.sigs.Len()
	f.mine(tx)
	if f.sigs.Len() != n {
		t.Fatalf("connecting a block of cached txs changed the cache from %d to %d", n, f.sigs.Len())
	}

	// A different tx reusing a cached signature (same key, other message)
	// is refused by the pool and by the chain.
	reuse := f.pay1(f.coins[2], 1000)
	reuse.Inputs[0].Sig = tx.Inputs[0].Sig
	_, err := f.pool.Accept(reuse, "")
	requireKind(t, err, ErrBadSig)
	tip := f.c.Tip().ID
	bad := f.g.Block(f.tip(), []*wire.Tx{reuse})
	if _, err := f.c.ProcessBlock(bad); !errors.Is(err, consensus.ErrBadSignature) {
		t.Fatalf("block with a reused signature: %v", err)
	}
	if f.c.Tip().ID != tip {
		t.Fatal("invalid block became the tip")
	}

	// A malleated copy of a cached, accepted tx (s -> n - s) has another
	// txid: no hit, and high S is refused.
	good := f.pay1(f.coins[3], 1000)
	f.mustAccept(good)
	mall := *good
	mall.Inputs = append([]wire.TxIn(nil), good.Inputs...)
	var s secp256k1.ModNScalar
	s.SetByteSlice(mall.Inputs[0].Sig[32:])
	s.Negate()
	s.PutBytesUnchecked(mall.Inputs[0].Sig[32:])
	bad = f.g.Block(f.tip(), []*wire.Tx{&mall})
	if _, err := f.c.ProcessBlock(bad); !errors.Is(err, consensus.ErrHighS) {
		t.Fatalf("block with a malleated copy of a cached tx: %v", err)
	}
	if f.c.Tip().ID != tip {
		t.Fatal("invalid block became the tip")
	}
	// The genuine one still connects.
	f.mine(good)
	if f.pool.Has(good.TxID()) {
		t.Fatal("mined tx still in the pool")
	}
}

// TestEstimateFee feeds blocks of pool transactions with known fee rates
// and checks the estimator's percentile rule and window.
func TestEstimateFee(t *testing.T) {
	f := newFixture(t, 12)
	if r, ok := f.pool.EstimateFee(1); ok || r != f.pool.MinRelayFee() {
		t.Fatalf("estimate with no data: %d %v", r, ok)
	}
	var txs []*wire.Tx
	for i := range 12 {
		tx := f.pay1(f.coins[i], uint64(i+1)*size1) // 1..12 per byte
		f.mustAccept(tx)
		txs = append(txs, tx)
	}
	f.mine(txs...)
	cases := []struct {
		target int
		want   uint64
	}{
		{1, 10}, // 90th percentile of 1..12: index 11*90/100 = 9
		{3, 8},  // 70th: index 7
		{5, 6},  // 50th: index 5
		{9, 2},  // 10th: index 1
		{20, 2}, // never below the 10th
		{0, 10}, // treated as 1
	}
	for _, c := range cases {
		if r, ok := f.pool.EstimateFee(c.target); !ok || r != c.want {
			t.Errorf("EstimateFee(%d) = %d %v, want %d", c.target, r, ok, c.want)
		}
	}
	// Six more empty blocks push the samples out of target 1's window
	// (max(6, 2) blocks) but not out of target 5's (10 blocks).
	for range 6 {
		f.mine()
	}
	if r, ok := f.pool.EstimateFee(1); ok || r != f.pool.MinRelayFee() {
		t.Fatalf("EstimateFee(1) after the window: %d %v", r, ok)
	}
	if r, ok := f.pool.EstimateFee(5); !ok || r != 6 {
		t.Fatalf("EstimateFee(5) within its window: %d %v", r, ok)
	}
}
