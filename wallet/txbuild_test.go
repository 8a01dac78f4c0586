package wallet

import (
	"errors"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/consensus"
	"tally/wire"
)

const coin = BaseUnitsPerTally

func utxo(id byte, amount uint64, conf int64) UTXO {
	return UTXO{OutPoint: wire.OutPoint{TxID: wire.Hash{id}, Index: uint32(id)}, Amount: amount, Confirmations: conf}
}

func TestTxSize(t *testing.T) {
	for _, shape := range [][3]int{{0, 0, 0}, {1, 1, 0}, {1, 2, 0}, {2, 3, 80}, {127, 1, 0}, {128, 1, 0}, {300, 200, 5}} {
		tx := &wire.Tx{
			Inputs:  make([]wire.TxIn, shape[0]),
			Outputs: make([]wire.TxOut, shape[1]),
			Extra:   make([]byte, shape[2]),
		}
		if got, want := TxSize(shape[0], shape[1], shape[2]), tx.SerializeSize(); got != want {
			t.Errorf("TxSize%v = %d, SerializeSize %d", shape, got, want)
		}
		if got := len(tx.Encode()); got != TxSize(shape[0], shape[1], shape[2]) {
			t.Errorf("TxSize%v = %d, encoding is %d bytes", shape, TxSize(shape[0], shape[1], shape[2]), got)
		}
	}
	if TxSize(1, 2, 0) != 204 || TxSize(1, 1, 0) != 176 {
		t.Errorf("TxSize(1,2,0) = %d, TxSize(1,1,0) = %d; want 204, 176", TxSize(1, 2, 0), TxSize(1, 1, 0))
	}
}

func TestSelectCoins(t *testing.T) {
	const rate = 2
	feeChange1 := uint64(rate * TxSize(1, 2, 0))   // 408
	feeNoChange1 := uint64(rate * TxSize(1, 1, 0)) // 352
	cases := []struct {
		name         string
		utxos        []UTXO
		target, dust uint64
		rate         uint64
		want         []byte // ids of the selected coins, in order
		change, fee  uint64
		err          error
	}{
		{
			name:   "exact fee with change",
			utxos:  []UTXO{utxo(1, 10*coin, 6)},
			target: 3 * coin, dust: 1000, rate: rate,
			want: []byte{1}, change: 7*coin - feeChange1, fee: feeChange1,
		},
		{
			name:   "prefers confirmed coins",
			utxos:  []UTXO{utxo(1, 100*coin, 0), utxo(2, 10*coin, 1), utxo(3, 50*coin, 0)},
			target: 5 * coin, dust: 1000, rate: rate,
			want: []byte{2}, change: 5*coin - feeChange1, fee: feeChange1,
		},
		{
			name:   "unconfirmed only when confirmed are not enough",
			utxos:  []UTXO{utxo(1, 100*coin, 0), utxo(2, 1*coin, 3), utxo(3, 2*coin, 0)},
			target: 5 * coin, dust: 1000, rate: rate,
			want: []byte{1}, change: 95*coin - feeChange1, fee: feeChange1,
		},
		{
			name:   "confirmed first, then unconfirmed, largest first",
			utxos:  []UTXO{utxo(1, 2*coin, 0), utxo(2, 1*coin, 3), utxo(3, 3*coin, 0), utxo(4, 1*coin, 9)},
			target: 4 * coin, dust: 1000, rate: 1,
			want: []byte{2, 4, 3}, change: 1*coin - uint64(TxSize(3, 2, 0)), fee: uint64(TxSize(3, 2, 0)),
		},
		{
			name:   "smallest single coin that pays",
			utxos:  []UTXO{utxo(1, 1*coin, 1), utxo(2, 10*coin, 1), utxo(3, 5*coin, 1), utxo(4, 4*coin, 1)},
			target: 4 * coin, dust: 1000, rate: rate,
			want: []byte{3}, change: 1*coin - feeChange1, fee: feeChange1,
		},
		{
			name:   "largest first when no single coin pays",
			utxos:  []UTXO{utxo(1, 1*coin, 1), utxo(2, 4*coin, 1), utxo(3, 2*coin, 1), utxo(4, 3*coin, 1)},
			target: 6 * coin, dust: 1000, rate: rate,
			want: []byte{2, 4}, change: 1*coin - uint64(rate*TxSize(2, 2, 0)), fee: uint64(rate * TxSize(2, 2, 0)),
		},
		{
			name:   "exact amount, no change",
			utxos:  []UTXO{utxo(1, 3*coin+feeNoChange1, 1)},
			target: 3 * coin, dust: 1000, rate: rate,
			want: []byte{1}, change: 0, fee: feeNoChange1,
		},
		{
			name:   "dust change folded into the fee",
			utxos:  []UTXO{utxo(1, 3*coin+feeChange1+999, 1)},
			target: 3 * coin, dust: 1000, rate: rate,
			want: []byte{1}, change: 0, fee: feeChange1 + 999,
		},
		{
			name:   "change at the dust limit is kept",
			utxos:  []UTXO{utxo(1, 3*coin+feeChange1+1000, 1)},
			target: 3 * coin, dust: 1000, rate: rate,
			want: []byte{1}, change: 1000, fee: feeChange1,
		},
		{
			name:   "between no-change and change fee",
			utxos:  []UTXO{utxo(1, 3*coin+feeNoChange1+10, 1)},
			target: 3 * coin, dust: 0, rate: rate,
			want: []byte{1}, change: 0, fee: feeNoChange1 + 10,
		},
		{
			name:   "zero fee rate",
			utxos:  []UTXO{utxo(1, 2*coin, 1)},
			target: 2 * coin, dust: 0, rate: 0,
			want: []byte{1}, change: 0, fee: 0,
		},
		{
			name:   "uneconomic coins are skipped",
			utxos:  []UTXO{utxo(1, 100, 1), utxo(2, 1*coin, 1), utxo(3, 1*coin, 1), utxo(4, 150, 1)},
			target: 2*coin - 5000, dust: 0, rate: 1,
			want: []byte{2, 3}, change: 5000 - uint64(TxSize(2, 2, 0)), fee: uint64(TxSize(2, 2, 0)),
		},
		{
			name:   "conflicted coins are never used",
			utxos:  []UTXO{utxo(1, 100*coin, -1), utxo(2, 1*coin, 1)},
			target: 5 * coin, dust: 1000, rate: rate,
			err: ErrInsufficientFunds,
		},
		{
			name:   "insufficient funds",
			utxos:  []UTXO{utxo(1, 1*coin, 1), utxo(2, 2*coin, 0)},
			target: 3 * coin, dust: 1000, rate: rate,
			err: ErrInsufficientFunds,
		},
		{
			name:   "no coins",
			target: 1, dust: 0, rate: 1,
			err: ErrInsufficientFunds,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sel, change, fee, err := SelectCoins(c.utxos, c.target, c.rate, c.dust)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("error %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []byte
			var sum uint64
			for _, u := range sel {
				ids = append(ids, u.OutPoint.TxID[0])
				sum += u.Amount
			}
			if string(ids) != string(c.want) || change != c.change || fee != c.fee {
				t.Fatalf("selected %v change %d fee %d; want %v change %d fee %d", ids, change, fee, c.want, c.change, c.fee)
			}
			if sum != c.target+change+fee {
				t.Errorf("coins %d != target %d + change %d + fee %d", sum, c.target, change, fee)
			}
			nOut := 1
			if change > 0 {
				nOut = 2
				if fee != c.rate*uint64(TxSize(len(sel), nOut, 0)) {
					t.Errorf("fee %d is not rate * size", fee)
				}
			} else if fee < c.rate*uint64(TxSize(len(sel), nOut, 0)) {
				t.Errorf("fee %d below rate * size", fee)
			}
		})
	}
}

func TestSelectCoinsErrors(t *testing.T) {
	_, _, _, err := SelectCoins([]UTXO{utxo(1, 1*coin, 1), utxo(2, 150_000_000, 0)}, 3*coin, 2, 1000)
	msg := err.Error()
	for _, s := range []string{"insufficient funds", "sending 3 TALLY", "needs at least 3.00000", "has 2.5 TALLY", "1.5 of it unconfirmed"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
	if _, _, _, err := SelectCoins([]UTXO{utxo(1, coin, 1), utxo(1, coin, 1)}, 1, 1, 0); err == nil {
		t.Error("duplicate outpoints accepted")
	}
	if _, _, _, err := SelectCoins([]UTXO{utxo(1, coin, 1)}, 0, 1, 0); err == nil {
		t.Error("zero target accepted")
	}
	if _, _, _, err := SelectCoins([]UTXO{utxo(1, 1<<63, 1), utxo(2, 1<<63, 1)}, 1, 1, 0); err == nil || errors.Is(err, ErrInsufficientFunds) {
		t.Errorf("overflowing coin list: %v", err)
	}
	if _, _, _, err := SelectCoins([]UTXO{utxo(1, coin, 1)}, coin/2, 1<<62, 0); !errors.Is(err, ErrInsufficientFunds) {
		t.Errorf("huge fee rate: %v", err)
	}
}

// keyring derives n keys from the test seed.
func keyring(t *testing.T, n int) (map[[20]byte]*secp256k1.PrivateKey, [][20]byte) {
	keys := map[[20]byte]*secp256k1.PrivateKey{}
	var pkhs [][20]byte
	for i := range n {
		k, err := DeriveKey(testSeed(), uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		keys[KeyPKH(k)] = k
		pkhs = append(pkhs, KeyPKH(k))
	}
	return keys, pkhs
}

func TestBuildAndSign(t *testing.T) {
	keys, pkhs := keyring(t, 3)
	lookup := func(pkh [20]byte) (*secp256k1.PrivateKey, bool) { k, ok := keys[pkh]; return k, ok }
	netID := [4]byte{0x74, 0x6c, 0x79, 0x01}
	utxos := []UTXO{utxo(1, 2*coin, 5), utxo(2, 3*coin, 5), utxo(3, 1*coin, 0)}
	for i := range utxos {
		utxos[i].PKH = pkhs[i]
	}
	payTo := [20]byte{0xaa}
	memo := []byte("thanks")
	const rate = 3
	target := uint64(4 * coin)
	sel, change, fee, err := SelectCoinsFor(utxos, target, 1, len(memo), rate, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel) != 2 || change == 0 {
		t.Fatalf("selected %d coins, change %d", len(sel), change)
	}
	tx, err := BuildAndSign(sel, []wire.TxOut{{Amount: target, PKH: payTo}}, wire.TxOut{Amount: change, PKH: pkhs[2]}, lookup, netID, memo)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != 1 || tx.LockTime != 0 || string(tx.Extra) != "thanks" || len(tx.Inputs) != 2 || len(tx.Outputs) != 2 ||
		tx.Outputs[0] != (wire.TxOut{Amount: target, PKH: payTo}) || tx.Outputs[1].Amount != change {
		t.Fatalf("unexpected tx %+v", tx)
	}
	var in, out uint64
	for i, u := range sel {
		in += u.Amount
		if tx.Inputs[i].Prev != u.OutPoint || wire.Hash160(tx.Inputs[i].PubKey[:]) != u.PKH {
			t.Errorf("input %d does not spend its coin with its key", i)
		}
	}
	for _, o := range tx.Outputs {
		out += o.Amount
	}
	if in-out != fee || fee != rate*uint64(tx.SerializeSize()) {
		t.Errorf("fee %d, inputs-outputs %d, rate*size %d", fee, in-out, rate*tx.SerializeSize())
	}
	if err := consensus.CheckTxSignatures(tx, tx.TxID(), netID, nil); err != nil {
		t.Errorf("signatures do not verify: %v", err)
	}
	if err := consensus.CheckTxSignatures(tx, tx.TxID(), [4]byte{1, 2, 3, 4}, nil); err == nil {
		t.Error("signatures verify on another network")
	}
	dec, err := wire.DecodeTx(tx.Encode())
	if err != nil || dec.TxID() != tx.TxID() {
		t.Errorf("decode round trip: %v", err)
	}
	// Deterministic (RFC 6979): the same inputs give the same transaction.
	tx2, _ := BuildAndSign(sel, []wire.TxOut{{Amount: target, PKH: payTo}}, wire.TxOut{Amount: change, PKH: pkhs[2]}, lookup, netID, memo)
	if tx2.TxID() != tx.TxID() {
		t.Error("signing is not deterministic")
	}

	// No change output when change is 0.
	tx3, err := BuildAndSign(sel[:1], []wire.TxOut{{Amount: coin, PKH: payTo}}, wire.TxOut{}, lookup, netID, nil)
	if err != nil || len(tx3.Outputs) != 1 || tx3.Extra != nil {
		t.Errorf("no-change tx: %+v, %v", tx3, err)
	}
}

func TestBuildAndSignErrors(t *testing.T) {
	keys, pkhs := keyring(t, 2)
	lookup := func(pkh [20]byte) (*secp256k1.PrivateKey, bool) { k, ok := keys[pkh]; return k, ok }
	wrongKey := func([20]byte) (*secp256k1.PrivateKey, bool) { return keys[pkhs[1]], true }
	u := utxo(1, coin, 1)
	u.PKH = pkhs[0]
	foreign := utxo(2, coin, 1)
	foreign.PKH = [20]byte{9}
	pay := []wire.TxOut{{Amount: coin / 2, PKH: [20]byte{1}}}
	net := [4]byte{}
	cases := []struct {
		name    string
		sel     []UTXO
		outs    []wire.TxOut
		change  wire.TxOut
		keys    func([20]byte) (*secp256k1.PrivateKey, bool)
		memo    []byte
		message string
	}{
		{"no inputs", nil, pay, wire.TxOut{}, lookup, nil, "at least one coin"},
		{"no outputs", []UTXO{u}, nil, wire.TxOut{}, lookup, nil, "at least one output"},
		{"missing key", []UTXO{foreign}, pay, wire.TxOut{}, lookup, nil, "no private key"},
		{"wrong key", []UTXO{u}, pay, wire.TxOut{}, wrongKey, nil, "does not match"},
		{"memo too long", []UTXO{u}, pay, wire.TxOut{}, lookup, make([]byte, 81), "memo"},
		{"outputs exceed inputs", []UTXO{u}, pay, wire.TxOut{Amount: coin/2 + 1}, lookup, nil, "more than"},
		{"zero output", []UTXO{u}, []wire.TxOut{{Amount: 0}}, wire.TxOut{}, lookup, nil, "amount 0"},
		{"duplicate coin", []UTXO{u, u}, pay, wire.TxOut{}, lookup, nil, "twice"},
	}
	for _, c := range cases {
		_, err := BuildAndSign(c.sel, c.outs, c.change, c.keys, net, c.memo)
		if err == nil || !strings.Contains(err.Error(), c.message) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.message)
		}
	}
}

// TestConsolidate: at a low fee rate a payment also merges small coins
// (the fee grows only by their inputs, the change by their value less
// that); at a high rate it keeps to the coins selected.
func TestConsolidate(t *testing.T) {
	var coins []UTXO
	for i := range 30 {
		coins = append(coins, UTXO{OutPoint: wire.OutPoint{TxID: wire.Hash{byte(i + 1)}}, Amount: 10_000 + uint64(i), Confirmations: 1})
	}
	coins = append(coins, UTXO{OutPoint: wire.OutPoint{TxID: wire.Hash{0xff}}, Amount: 5_000_000, Confirmations: 1})
	for _, rate := range []uint64{1, 50} {
		sel, change, fee, err := SelectCoinsFor(coins, 1_000_000, 1, 0, rate, rate*wire.InputSize)
		if err != nil || len(sel) != 1 {
			t.Fatalf("rate %d: %d coins, %v", rate, len(sel), err)
		}
		got, change2, fee2 := Consolidate(sel, coins, 1_000_000, 1, 0, rate, change, fee)
		var in uint64
		for _, u := range got {
			in += u.Amount
		}
		if in != 1_000_000+change2+fee2 || fee2 != rate*uint64(TxSize(len(got), 2, 0)) {
			t.Fatalf("rate %d: inputs %d do not pay 1000000 + change %d + fee %d", rate, in, change2, fee2)
		}
		switch {
		case rate <= ConsolidationRate && (len(got) != 1+MaxConsolidate || change2 <= change || got[1].Amount != 10_000):
			t.Fatalf("rate %d: %d coins, change %d (was %d)", rate, len(got), change2, change)
		case rate > ConsolidationRate && len(got) != 1:
			t.Fatalf("rate %d consolidated %d coins", rate, len(got))
		}
	}
}
