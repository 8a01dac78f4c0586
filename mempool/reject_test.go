package mempool

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// otherKey is a key that owns nothing on the dev chain.
func otherKey() *secp256k1.PrivateKey {
	seed := sha256.Sum256([]byte("mempool test other key"))
	return secp256k1.PrivKeyFromBytes(seed[:])
}

// TestRejections submits one transaction per refusal reason and checks the
// error matches exactly that pool kind (and the consensus rule behind it,
// when there is one), whether the sender may be punished, and that the
// pool did not take it.
func TestRejections(t *testing.T) {
	cases := []struct {
		name string
		opts []fixtureOpt
		// build prepares the pool and returns the transaction to submit.
		build    func(f *fixture) *wire.Tx
		kind     ErrorKind
		rule     consensus.ErrorKind // "" when no consensus rule is broken
		provable bool                // IsProvablyInvalid
		orphans  int                 // orphan count afterwards
		inPool   bool                // the submitted txid is in the pool afterwards
	}{
		{
			name: "already known in pool",
			build: func(f *fixture) *wire.Tx {
				tx := f.pay1(f.coins[0], 1000)
				f.mustAccept(tx)
				return tx
			},
			kind: ErrAlreadyKnown, inPool: true,
		},
		{
			name: "already known as orphan",
			build: func(f *fixture) *wire.Tx {
				parent := f.pay1(f.coins[0], 1000)
				child := f.pay1(out(parent, 0), 1000)
				if _, err := f.pool.Accept(child, "peer"); !errors.Is(err, ErrMissingInputs) {
					t.Fatalf("orphan: %v", err)
				}
				return child
			},
			kind: ErrAlreadyKnown, orphans: 1,
		},
		{
			name: "already known in chain",
			build: func(f *fixture) *wire.Tx {
				tx := f.pay1(f.coins[0], 1000)
				f.mine(tx)
				return tx
			},
			kind: ErrAlreadyKnown,
		},
		{
			name: "replacement paying less than the replaced fee plus its own relay fee",
			build: func(f *fixture) *wire.Tx {
				f.mustAccept(f.pay1(f.coins[0], 1000))
				return f.pay1(f.coins[0], 1000+size1-1)
			},
			kind: ErrInsufficientFee,
		},
		{
			name: "replacement spending an output of what it replaces",
			build: func(f *fixture) *wire.Tx {
				parent := f.pay1(f.coins[0], 1000)
				f.mustAccept(parent)
				return f.g.Pay([]testgen.Spend{f.coins[0], out(parent, 0)}, 1, 100_000)
			},
			kind: ErrSpendsConflictingTx,
		},
		{
			name: "replacement evicting more than 100 transactions",
			build: func(f *fixture) *wire.Tx {
				parent := f.g.Pay([]testgen.Spend{f.coins[0]}, MaxReplacements+1, 10_000)
				f.mustAccept(parent)
				for i := range MaxReplacements {
					f.mustAccept(f.pay1(out(parent, i), 1000))
				}
				return f.pay1(f.coins[0], 10_000_000)
			},
			kind: ErrTooManyReplacements,
		},
		{
			name:  "fee below min relay fee",
			build: func(f *fixture) *wire.Tx { return f.pay1(f.coins[0], size1-1) },
			kind:  ErrLowFee,
		},
		{
			name:  "zero fee",
			build: func(f *fixture) *wire.Tx { return f.pay1(f.coins[0], 0) },
			kind:  ErrLowFee,
		},
		{
			name:  "fee below a raised min relay fee",
			opts:  []fixtureOpt{withConfig(func(c *Config) { c.MinRelayFee = 5 })},
			build: func(f *fixture) *wire.Tx { return f.pay1(f.coins[0], 5*size1-1) },
			kind:  ErrLowFee,
		},
		{
			name: "too large",
			build: func(f *fixture) *wire.Tx {
				n := f.p.MaxTxBytes/wire.OutputSize + 1
				return f.g.Pay(f.coins[:1], n, 1_000_000)
			},
			kind: ErrTooLarge, rule: consensus.ErrTxTooBig, provable: true,
		},
		{
			name: "non-final (lock_time above next height)",
			build: func(f *fixture) *wire.Tx {
				tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: f.coins[0].Out}},
					Outputs:  []wire.TxOut{{Amount: f.coins[0].Amount - 1000, PKH: f.g.PKH}},
					LockTime: f.c.Tip().Height + 2}
				return f.g.Sign(tx)
			},
			kind: ErrNonFinal, rule: consensus.ErrNonFinal,
		},
		{
			name: "immature coinbase spend",
			build: func(f *fixture) *wire.Tx {
				b := f.mine() // coinbase at height 2, spendable from height 12
				for range f.p.CoinbaseMaturity - 2 {
					f.mine()
				}
				// next height is 2 + maturity - 1
				return f.pay1(out(b.Txs[0], 0), 1000)
			},
			kind: ErrImmature, rule: consensus.ErrImmatureSpend,
		},
		{
			name: "bad signature",
			build: func(f *fixture) *wire.Tx {
				tx := f.pay1(f.coins[0], 1000)
				tx.Inputs[0].Sig[40] ^= 1
				return tx
			},
			kind: ErrBadSig, rule: consensus.ErrBadSignature, provable: true,
		},
		{
			name: "high-S signature",
			build: func(f *fixture) *wire.Tx {
				tx := f.pay1(f.coins[0], 1000)
				var s secp256k1.ModNScalar
				s.SetByteSlice(tx.Inputs[0].Sig[32:])
				s.Negate()
				s.PutBytesUnchecked(tx.Inputs[0].Sig[32:])
				return tx
			},
			kind: ErrBadSig, rule: consensus.ErrHighS, provable: true,
		},
		{
			name: "signature r out of range",
			build: func(f *fixture) *wire.Tx {
				tx := f.pay1(f.coins[0], 1000)
				clear(tx.Inputs[0].Sig[:32])
				return tx
			},
			kind: ErrBadSig, rule: consensus.ErrSignatureRange, provable: true,
		},
		{
			name: "wrong public key (validly signed by a key that does not own the output)",
			build: func(f *fixture) *wire.Tx {
				k := otherKey()
				tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: f.coins[0].Out}},
					Outputs: []wire.TxOut{{Amount: f.coins[0].Amount - 1000, PKH: f.g.PKH}}}
				copy(tx.Inputs[0].PubKey[:], k.PubKey().SerializeCompressed())
				tx.Inputs[0].Sig = consensus.SignInput(k, wire.SigHash(tx, f.p.NetworkID))
				return tx
			},
			kind: ErrBadSig, rule: consensus.ErrWrongPubKey, provable: true,
		},
		{
			name: "unparseable public key that hashes to the output's pkh",
			build: func(f *fixture) *wire.Tx {
				var bad [wire.PubKeySize]byte
				bad[0] = 0x05
				fund := f.g.Tx(f.coins[:1], []wire.TxOut{{Amount: 1_000_000, PKH: wire.Hash160(bad[:])}})
				f.mine(fund)
				tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: out(fund, 0).Out, PubKey: bad}},
					Outputs: []wire.TxOut{{Amount: 900_000, PKH: f.g.PKH}}}
				tx.Inputs[0].Sig = consensus.SignInput(f.g.Key, wire.SigHash(tx, f.p.NetworkID))
				return tx
			},
			kind: ErrBadSig, rule: consensus.ErrBadPubKey, provable: true,
		},
		{
			name: "missing inputs go to the orphan pool",
			build: func(f *fixture) *wire.Tx {
				return f.pay1(testgen.Spend{Out: wire.OutPoint{TxID: wire.H([]byte("nowhere"))}, Amount: 1_000_000}, 1000)
			},
			kind: ErrMissingInputs, rule: consensus.ErrMissingInput, orphans: 1,
		},
		{
			name: "outputs above inputs",
			build: func(f *fixture) *wire.Tx {
				return f.g.Tx(f.coins[:1], []wire.TxOut{{Amount: f.coins[0].Amount + 1, PKH: f.g.PKH}})
			},
			kind: ErrInvalid, rule: consensus.ErrSpendTooMuch, provable: true,
		},
		{
			name: "duplicate input",
			build: func(f *fixture) *wire.Tx {
				return f.g.Pay([]testgen.Spend{f.coins[0], f.coins[0]}, 1, 10_000)
			},
			kind: ErrInvalid, rule: consensus.ErrDuplicateInput, provable: true,
		},
		{
			name: "zero output",
			build: func(f *fixture) *wire.Tx {
				return f.g.Tx(f.coins[:1], []wire.TxOut{{Amount: 0, PKH: f.g.PKH}})
			},
			kind: ErrInvalid, rule: consensus.ErrBadOutputValue, provable: true,
		},
		{
			name: "version 2",
			build: func(f *fixture) *wire.Tx {
				tx := &wire.Tx{Version: 2, Inputs: []wire.TxIn{{Prev: f.coins[0].Out}},
					Outputs: []wire.TxOut{{Amount: 1000, PKH: f.g.PKH}}}
				return f.g.Sign(tx)
			},
			kind: ErrInvalid, rule: consensus.ErrBadTxVersion, provable: true,
		},
		{
			name: "memo too long",
			build: func(f *fixture) *wire.Tx {
				tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: f.coins[0].Out}},
					Outputs: []wire.TxOut{{Amount: 1000, PKH: f.g.PKH}}, Extra: make([]byte, consensus.MaxMemoBytes+1)}
				return f.g.Sign(tx)
			},
			kind: ErrInvalid, rule: consensus.ErrMemoTooLong, provable: true,
		},
		{
			name:  "coinbase",
			build: func(f *fixture) *wire.Tx { return f.g.Coinbase(f.c.Tip().Height+1, 1000) },
			kind:  ErrCoinbase,
		},
		{
			name: "pool full and the newcomer's fee rate is the lowest",
			opts: []fixtureOpt{withConfig(func(c *Config) { c.MaxBytes = 10 * size1 })},
			build: func(f *fixture) *wire.Tx {
				for i := range 10 {
					f.mustAccept(f.pay1(f.coins[i], 10*size1))
				}
				return f.pay1(f.coins[10], 2*size1)
			},
			kind: ErrPoolFull,
		},
		{
			name: "too long chain of unconfirmed transactions",
			build: func(f *fixture) *wire.Tx {
				s := f.coins[0]
				for range DefaultMaxAncestors {
					tx := f.pay1(s, 1000)
					f.mustAccept(tx)
					s = out(tx, 0)
				}
				return f.pay1(s, 1000)
			},
			kind: ErrTooLongChain,
		},
	}
	covered := make(map[ErrorKind]bool)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 20, tc.opts...)
			tx := tc.build(f)
			before := f.pool.Stats().Count
			e, err := f.pool.Accept(tx, "peer")
			if e != nil {
				t.Fatalf("got an entry with error %v", err)
			}
			requireKind(t, err, tc.kind)
			var re *RejectError
			if !errors.As(err, &re) || re.Kind != tc.kind {
				t.Fatalf("error %T %v is not a *RejectError of kind %s", err, err, tc.kind)
			}
			if tc.rule != "" && !errors.Is(err, tc.rule) {
				t.Fatalf("error %q does not match consensus rule %s", err, tc.rule)
			}
			if tc.rule == "" && re.Rule != nil {
				t.Fatalf("error %q carries an unexpected rule %v", err, re.Rule)
			}
			if got := IsProvablyInvalid(err); got != tc.provable {
				t.Fatalf("IsProvablyInvalid = %v, want %v (%v)", got, tc.provable, err)
			}
			if got := f.pool.OrphanCount(); got != tc.orphans {
				t.Fatalf("orphans = %d, want %d", got, tc.orphans)
			}
			if got := f.pool.Has(tx.TxID()); got != tc.inPool {
				t.Fatalf("in pool = %v, want %v", got, tc.inPool)
			}
			if tc.kind != ErrPoolFull && f.pool.Stats().Count != before {
				t.Fatalf("pool count changed from %d to %d", before, f.pool.Stats().Count)
			}
		})
		covered[tc.kind] = true
	}
	for _, k := range allKinds {
		if !covered[k] {
			t.Errorf("no case for %s", k)
		}
	}
}

// TestBoundaries accepts the transactions just inside each limit that the
// rejection table tests just outside.
func TestBoundaries(t *testing.T) {
	f := newFixture(t, 20)
	// Fee of exactly one base unit per byte.
	f.mustAccept(f.pay1(f.coins[0], size1))
	// lock_time equal to the next height is final.
	tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: f.coins[1].Out}},
		Outputs: []wire.TxOut{{Amount: f.coins[1].Amount - 1000, PKH: f.g.PKH}}, LockTime: f.c.Tip().Height + 1}
	f.mustAccept(f.g.Sign(tx))
	// A coinbase is spendable once the next height reaches its height
	// plus the maturity.
	b := f.mine()
	cbHeight := f.c.Tip().Height
	for f.c.Tip().Height+1 < cbHeight+f.p.CoinbaseMaturity {
		f.mine()
	}
	f.mustAccept(f.pay1(out(b.Txs[0], 0), 1000))
	// A chain of exactly MaxAncestors transactions.
	s := f.coins[2]
	for range DefaultMaxAncestors {
		tx := f.pay1(s, 1000)
		f.mustAccept(tx)
		s = out(tx, 0)
	}
	// The largest allowed transaction.
	n := (f.p.MaxTxBytes - (4 + 1 + wire.InputSize + 3 + 8 + 1)) / wire.OutputSize
	big := f.g.Pay(f.coins[3:4], n, 200_000)
	if big.SerializeSize() > f.p.MaxTxBytes || big.SerializeSize()+wire.OutputSize <= f.p.MaxTxBytes {
		t.Fatalf("size %d not at the limit %d", big.SerializeSize(), f.p.MaxTxBytes)
	}
	f.mustAccept(big)
}
