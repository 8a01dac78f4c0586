package consensus_test

import (
	"encoding/hex"
	"sync"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// secp256k1 group order n and n/2 (floor), big-endian.
const (
	orderHex     = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
	halfOrderHex = "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"
	fieldHex     = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"
)

func hex32(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hex32 %q", s)
	}
	var out [32]byte
	copy(out[:], b)
	return out
}

// negateS replaces s by n - s: the same signature, high-S form.
func negateS(sig *[wire.SigSize]byte) {
	var s secp256k1.ModNScalar
	s.SetByteSlice(sig[32:])
	s.Negate()
	s.PutBytesUnchecked(sig[32:])
}

func TestVerifySignature(t *testing.T) {
	key := consensus.DevPrivateKey()
	var pub [wire.PubKeySize]byte
	copy(pub[:], key.PubKey().SerializeCompressed())
	other := secp256k1.PrivKeyFromBytes([]byte("another key, 32 bytes long......"))
	var otherPub [wire.PubKeySize]byte
	copy(otherPub[:], other.PubKey().SerializeCompressed())
	msg := wire.H2([]byte("message"))
	sig := consensus.SignInput(key, msg)
	n, half, field := hex32(t, orderHex), hex32(t, halfOrderHex), hex32(t, fieldHex)

	var s secp256k1.ModNScalar
	s.SetByteSlice(sig[32:])
	if s.IsOverHalfOrder() {
		t.Fatal("SignInput produced a high S")
	}

	tests := []struct {
		name   string
		mutate func(pk *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, msg *wire.Hash)
		want   consensus.ErrorKind
	}{
		{name: "valid", mutate: func(*[wire.PubKeySize]byte, *[wire.SigSize]byte, *wire.Hash) {}},
		{name: "high S (n - s)", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) { negateS(sig) }, want: consensus.ErrHighS},
		{name: "s = n/2+1", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) {
			copy(sig[32:], half[:])
			sig[63]++
		}, want: consensus.ErrHighS},
		{name: "s = n/2 is low, fails to verify", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) {
			copy(sig[32:], half[:])
		}, want: consensus.ErrBadSignature},
		{name: "r = 0", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) { clear(sig[:32]) }, want: consensus.ErrSignatureRange},
		{name: "s = 0", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) { clear(sig[32:]) }, want: consensus.ErrSignatureRange},
		{name: "r = n", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) { copy(sig[:32], n[:]) }, want: consensus.ErrSignatureRange},
		{name: "s = n", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) { copy(sig[32:], n[:]) }, want: consensus.ErrSignatureRange},
		{name: "r = n+1 (1 mod n)", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) {
			copy(sig[:32], n[:])
			sig[31]++
		}, want: consensus.ErrSignatureRange},
		{name: "r = 2^256-1", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) {
			for i := range 32 {
				sig[i] = 0xff
			}
		}, want: consensus.ErrSignatureRange},
		{name: "r = n-1 is in range, fails to verify", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) {
			copy(sig[:32], n[:])
			sig[31]--
		}, want: consensus.ErrBadSignature},
		{name: "pubkey uncompressed prefix", mutate: func(pk *[wire.PubKeySize]byte, _ *[wire.SigSize]byte, _ *wire.Hash) { pk[0] = 0x04 }, want: consensus.ErrBadPubKey},
		{name: "pubkey zero", mutate: func(pk *[wire.PubKeySize]byte, _ *[wire.SigSize]byte, _ *wire.Hash) {
			*pk = [wire.PubKeySize]byte{}
		}, want: consensus.ErrBadPubKey},
		{name: "pubkey x not on the curve", mutate: func(pk *[wire.PubKeySize]byte, _ *[wire.SigSize]byte, _ *wire.Hash) {
			*pk = [wire.PubKeySize]byte{0x02}
			pk[32] = 5 // 5^3 + 7 is not a square mod p
		}, want: consensus.ErrBadPubKey},
		{name: "pubkey x = p", mutate: func(pk *[wire.PubKeySize]byte, _ *[wire.SigSize]byte, _ *wire.Hash) {
			pk[0] = 0x02
			copy(pk[1:], field[:])
		}, want: consensus.ErrBadPubKey},
		{name: "pubkey other parity", mutate: func(pk *[wire.PubKeySize]byte, _ *[wire.SigSize]byte, _ *wire.Hash) { pk[0] ^= 1 }, want: consensus.ErrBadSignature},
		{name: "another key", mutate: func(pk *[wire.PubKeySize]byte, _ *[wire.SigSize]byte, _ *wire.Hash) { *pk = otherPub }, want: consensus.ErrBadSignature},
		{name: "wrong message", mutate: func(_ *[wire.PubKeySize]byte, _ *[wire.SigSize]byte, msg *wire.Hash) { msg[0] ^= 1 }, want: consensus.ErrBadSignature},
		{name: "r flipped bit", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, _ *wire.Hash) { sig[5] ^= 0x10 }, want: consensus.ErrBadSignature},
		{name: "signature of another key", mutate: func(_ *[wire.PubKeySize]byte, sig *[wire.SigSize]byte, msg *wire.Hash) {
			*sig = consensus.SignInput(other, *msg)
		}, want: consensus.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pk, sg, m := pub, sig, msg
			tc.mutate(&pk, &sg, &m)
			checkKind(t, consensus.VerifySignature(&pk, &sg, m), tc.want)
		})
	}
}

// twoInputTx returns a transaction of two inputs signed by g on its network.
func twoInputTx(g *testgen.Gen, seed string) *wire.Tx {
	spends := []testgen.Spend{
		{Out: wire.OutPoint{TxID: wire.H([]byte(seed)), Index: 0}, Amount: 5},
		{Out: wire.OutPoint{TxID: wire.H([]byte(seed)), Index: 1}, Amount: 5},
	}
	return g.Pay(spends, 1, 1)
}

func TestCheckTxSignatures(t *testing.T) {
	dev, main := devParams(t), mainParams(t)
	g := testgen.New(dev)
	base := twoInputTx(g, "sigs")
	mainTx := twoInputTx(testgen.New(main), "sigs") // the same tx signed for the main network
	otherKey := secp256k1.PrivKeyFromBytes([]byte("another key, 32 bytes long......"))

	tests := []struct {
		name    string
		mutate  func(tx *wire.Tx)
		network [4]byte // dev unless set
		want    consensus.ErrorKind
	}{
		{name: "valid"},
		{name: "coinbase has no signatures", mutate: func(tx *wire.Tx) { *tx = *g.Coinbase(1, 1) }},
		{name: "checked against the main network id", network: main.NetworkID, want: consensus.ErrBadSignature},
		{name: "signed for the main network, checked for dev", mutate: func(tx *wire.Tx) { *tx = *cloneTx(mainTx) }, want: consensus.ErrBadSignature},
		{name: "signed for the main network, checked for main", mutate: func(tx *wire.Tx) { *tx = *cloneTx(mainTx) }, network: main.NetworkID},
		{name: "second input's signature corrupted", mutate: func(tx *wire.Tx) { tx.Inputs[1].Sig[10] ^= 1 }, want: consensus.ErrBadSignature},
		{name: "second input high S", mutate: func(tx *wire.Tx) { negateS(&tx.Inputs[1].Sig) }, want: consensus.ErrHighS},
		{name: "first input s = 0", mutate: func(tx *wire.Tx) { clear(tx.Inputs[0].Sig[32:]) }, want: consensus.ErrSignatureRange},
		{name: "first input bad pubkey", mutate: func(tx *wire.Tx) { tx.Inputs[0].PubKey[0] = 0x05 }, want: consensus.ErrBadPubKey},
		{name: "output changed after signing", mutate: func(tx *wire.Tx) { tx.Outputs[0].Amount++ }, want: consensus.ErrBadSignature},
		{name: "memo changed after signing", mutate: func(tx *wire.Tx) { tx.Extra = []byte("x") }, want: consensus.ErrBadSignature},
		{name: "input signed over another message", mutate: func(tx *wire.Tx) {
			tx.Inputs[0].Sig = consensus.SignInput(g.Key, wire.H2([]byte("other")))
		}, want: consensus.ErrBadSignature},
		{name: "second input by another key (both keys sign the message)", mutate: func(tx *wire.Tx) {
			copy(tx.Inputs[1].PubKey[:], otherKey.PubKey().SerializeCompressed())
			msg := wire.SigHash(tx, dev.NetworkID)
			tx.Inputs[0].Sig = consensus.SignInput(g.Key, msg)
			tx.Inputs[1].Sig = consensus.SignInput(otherKey, msg)
		}},
		{name: "signatures of two inputs swapped keys", mutate: func(tx *wire.Tx) {
			copy(tx.Inputs[1].PubKey[:], otherKey.PubKey().SerializeCompressed())
			msg := wire.SigHash(tx, dev.NetworkID)
			tx.Inputs[0].Sig = consensus.SignInput(otherKey, msg)
			tx.Inputs[1].Sig = consensus.SignInput(g.Key, msg)
		}, want: consensus.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tx := cloneTx(base)
			if tc.mutate != nil {
				tc.mutate(tx)
			}
			net := dev.NetworkID
			if tc.network != ([4]byte{}) {
				net = tc.network
			}
			checkKind(t, consensus.CheckTxSignatures(tx, tx.TxID(), net, nil), tc.want)
			// A cache changes no verdict.
			checkKind(t, consensus.CheckTxSignatures(tx, tx.TxID(), net, consensus.NewSigCache(16)), tc.want)
		})
	}
}

func TestSigCache(t *testing.T) {
	dev := devParams(t)
	g := testgen.New(dev)
	txA := twoInputTx(g, "A")
	idA := txA.TxID()
	net := dev.NetworkID

	t.Run("verified inputs are cached", func(t *testing.T) {
		c := consensus.NewSigCache(100)
		checkKind(t, consensus.CheckTxSignatures(txA, idA, net, c), "")
		if c.Len() != 2 {
			t.Fatalf("Len %d after a 2-input tx, want 2", c.Len())
		}
		checkKind(t, consensus.CheckTxSignatures(txA, idA, net, c), "")
		if c.Len() != 2 {
			t.Fatalf("Len %d after checking again, want 2", c.Len())
		}
	})

	t.Run("cache hit skips verification", func(t *testing.T) {
		// The cache trusts the txid it is given: under txA's id, a copy of
		// txA whose signatures are broken is not verified again.
		c := consensus.NewSigCache(100)
		checkKind(t, consensus.CheckTxSignatures(txA, idA, net, c), "")
		broken := cloneTx(txA)
		broken.Inputs[0].Sig[40] ^= 1
		broken.Inputs[1].Sig[40] ^= 1
		checkKind(t, consensus.CheckTxSignatures(broken, idA, net, c), "")
		checkKind(t, consensus.CheckTxSignatures(broken, idA, net, nil), consensus.ErrBadSignature)
	})

	t.Run("entry for tx A does not validate tx B", func(t *testing.T) {
		c := consensus.NewSigCache(100)
		checkKind(t, consensus.CheckTxSignatures(txA, idA, net, c), "")
		// B: same inputs, same public keys, same input indexes, a bad
		// signature (so another txid).
		txB := cloneTx(txA)
		txB.Inputs[0].Sig[20] ^= 1
		checkKind(t, consensus.CheckTxSignatures(txB, txB.TxID(), net, c), consensus.ErrBadSignature)
		// B with a high-S copy of A's valid signature: also another txid.
		txB2 := cloneTx(txA)
		negateS(&txB2.Inputs[1].Sig)
		checkKind(t, consensus.CheckTxSignatures(txB2, txB2.TxID(), net, c), consensus.ErrHighS)
		if c.Len() != 3 { // A's two inputs and txB2's valid first input
			t.Fatalf("Len %d, want 3", c.Len())
		}
	})

	t.Run("failures are not cached", func(t *testing.T) {
		c := consensus.NewSigCache(100)
		bad := cloneTx(txA)
		bad.Inputs[0].Sig[20] ^= 1
		id := bad.TxID()
		for range 2 {
			checkKind(t, consensus.CheckTxSignatures(bad, id, net, c), consensus.ErrBadSignature)
		}
		if c.Len() != 0 {
			t.Fatalf("Len %d after failures, want 0", c.Len())
		}
	})

	t.Run("nil cache", func(t *testing.T) {
		var c *consensus.SigCache
		checkKind(t, consensus.CheckTxSignatures(txA, idA, net, c), "")
		bad := cloneTx(txA)
		bad.Inputs[1].Sig[20] ^= 1
		checkKind(t, consensus.CheckTxSignatures(bad, bad.TxID(), net, c), consensus.ErrBadSignature)
		if c.Len() != 0 {
			t.Fatalf("nil cache Len %d", c.Len())
		}
	})

	t.Run("bounded", func(t *testing.T) {
		c := consensus.NewSigCache(3)
		for _, seed := range []string{"1", "2", "3", "4"} {
			tx := twoInputTx(g, seed)
			checkKind(t, consensus.CheckTxSignatures(tx, tx.TxID(), net, c), "")
			if c.Len() > 3 {
				t.Fatalf("Len %d above the bound 3", c.Len())
			}
		}
		if c.Len() != 3 {
			t.Fatalf("Len %d, want 3", c.Len())
		}
		zero := consensus.NewSigCache(0)
		checkKind(t, consensus.CheckTxSignatures(txA, idA, net, zero), "")
		if zero.Len() != 0 {
			t.Fatalf("a cache of size 0 holds %d", zero.Len())
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		c := consensus.NewSigCache(8)
		txs := []*wire.Tx{txA, twoInputTx(g, "c1"), twoInputTx(g, "c2"), twoInputTx(g, "c3"), twoInputTx(g, "c4")}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					tx := txs[(w+i)%len(txs)]
					if err := consensus.CheckTxSignatures(tx, tx.TxID(), net, c); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if c.Len() > 8 {
			t.Fatalf("Len %d above the bound 8", c.Len())
		}
	})
}
