package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"tally/wire"
)

// coinMap is a CoinView over a map.
type coinMap map[wire.OutPoint]wire.Coin

func (m coinMap) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	c, ok := m[op]
	return c, ok, nil
}

// coinFunc is a CoinView over a function.
type coinFunc func(op wire.OutPoint) (wire.Coin, bool, error)

func (f coinFunc) Coin(op wire.OutPoint) (wire.Coin, bool, error) { return f(op) }

// connectOracle is CheckBlockConnect written the plain way, with a map of
// every output the block has created so far and of every outpoint it has
// spent, always. It returns the coins the inputs spent, in block order.
func connectOracle(b *wire.Block, txids []wire.Hash, height uint64, view CoinView, p *Params) (uint64, []wire.Coin, error) {
	var found []wire.Coin
	spent := map[wire.OutPoint]bool{}
	made := map[wire.OutPoint]wire.Coin{}
	first := map[wire.Hash]bool{}
	coin := coinFunc(func(op wire.OutPoint) (wire.Coin, bool, error) {
		if spent[op] {
			return wire.Coin{}, false, nil
		}
		if c, ok := made[op]; ok {
			return c, true, nil
		}
		return view.Coin(op)
	})
	overwrites := func(i int) error {
		for j := range b.Txs[i].Outputs {
			if _, ok, _ := coin(wire.OutPoint{TxID: txids[i], Index: uint32(j)}); ok {
				return ruleErr(ErrOverwriteTx, "transaction %s overwrites unspent outputs", txids[i])
			}
		}
		return nil
	}
	var fees uint64
	for i, tx := range b.Txs {
		if i == 0 {
			if err := overwrites(0); err != nil {
				return 0, nil, err
			}
		} else {
			var err error
			for k, in := range tx.Inputs {
				if spent[in.Prev] {
					err = ruleErr(ErrDoubleSpend, "transaction %s input %d spends %s:%d, already spent in this block", txids[i], k, in.Prev.TxID, in.Prev.Index)
					break
				}
			}
			var fee uint64
			if err == nil {
				var got []wire.Coin
				fee, err = CheckTxInputs(tx, txids[i], height, coinFunc(func(op wire.OutPoint) (wire.Coin, bool, error) {
					c, ok, err := coin(op)
					if ok {
						got = append(got, c)
					}
					return c, ok, err
				}), p)
				found = append(found, got...)
			}
			if err != nil {
				if oerr := overwrites(i); oerr != nil {
					return 0, nil, oerr
				}
				return 0, nil, err
			}
			fees += fee
			for _, in := range tx.Inputs {
				spent[in.Prev] = true
			}
		}
		// A repeated txid's outputs stay those of its first transaction.
		if first[txids[i]] {
			continue
		}
		first[txids[i]] = true
		for j, o := range tx.Outputs {
			made[wire.OutPoint{TxID: txids[i], Index: uint32(j)}] = wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: height, Coinbase: i == 0}
		}
	}
	var cb uint64
	for _, o := range b.Txs[0].Outputs {
		cb += o.Amount
	}
	if limit := Subsidy(p, height) + fees; cb > limit {
		return 0, nil, ruleErr(ErrBadCoinbaseValue, "coinbase pays %d, limit %d (subsidy + fees)", cb, limit)
	} else if limit > 0 && len(b.Txs[0].Outputs) == 0 {
		return 0, nil, ruleErr(ErrNoOutputs, "coinbase has no outputs, reward is %d", limit)
	}
	return fees, found, nil
}

// TestCheckBlockConnectMatchesOracle: on random small blocks whose txids
// share their first 8 bytes (and repeat) on purpose, spending each other's
// outputs, spending outputs twice and overwriting unspent ones,
// CheckBlockConnect (which tracks the block's spends only when two inputs
// may spend one outpoint, spendsRepeat) gives exactly the oracle's fees
// and error. The txids are given, not hashed, so that they share prefixes
// as they would only by grinding.
func TestCheckBlockConnectMatchesOracle(t *testing.T) {
	p, err := Default(true)
	if err != nil {
		t.Fatal(err)
	}
	pub := [wire.PubKeySize]byte{}
	copy(pub[:], DevPrivateKey().PubKey().SerializeCompressed())
	pkh := DevPKH()
	// Sixteen txids in four groups sharing their first 8 bytes; the view
	// has outputs of the first half only.
	var universe []wire.Hash
	for g := range 4 {
		for tail := range 4 {
			var h wire.Hash
			binary.LittleEndian.PutUint64(h[:], uint64(g)*0x0101010101010101)
			h[31] = byte(tail + 1)
			universe = append(universe, h)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() wire.Hash { return universe[r.IntN(len(universe))] }
	outs := func() []wire.TxOut {
		o := make([]wire.TxOut, 1+r.IntN(2))
		for i := range o {
			o[i] = wire.TxOut{Amount: 1 + uint64(r.IntN(600)), PKH: pkh}
		}
		return o
	}
	kinds := map[string]int{}
	for n := 0; n < 20000; n++ {
		view := coinMap{}
		for _, id := range universe[:8] {
			for k := range 3 {
				if r.IntN(10) < 5 {
					c := wire.Coin{Amount: 1000, PKH: pkh, Height: 1, Coinbase: r.IntN(5) == 0}
					if r.IntN(20) == 0 {
						c.PKH[0] ^= 1
					}
					view[wire.OutPoint{TxID: id, Index: uint32(k)}] = c
				}
			}
		}
		var coins []wire.OutPoint
		for op := range view {
			coins = append(coins, op)
		}
		// Mostly txids the view has no outputs of; inputs mostly spend
		// the view's coins or earlier transactions' outputs.
		txid := func() wire.Hash {
			if r.IntN(8) == 0 {
				return pick()
			}
			return universe[8+r.IntN(8)]
		}
		b := &wire.Block{Txs: []*wire.Tx{{Version: 1, Outputs: outs()}}}
		txids := []wire.Hash{txid()}
		for range 1 + r.IntN(6) {
			tx := &wire.Tx{Version: 1, Outputs: outs()}
			for range 1 + r.IntN(3) {
				prev := wire.OutPoint{TxID: pick(), Index: uint32(r.IntN(3))}
				switch k := r.IntN(10); {
				case k < 4 && len(coins) > 0:
					prev = coins[r.IntN(len(coins))]
				case k < 8:
					prev = wire.OutPoint{TxID: txids[r.IntN(len(txids))], Index: uint32(r.IntN(2))}
				}
				tx.Inputs = append(tx.Inputs, wire.TxIn{Prev: prev, PubKey: pub})
			}
			b.Txs = append(b.Txs, tx)
			txids = append(txids, txid())
		}
		height := uint64(50 + r.IntN(200))
		wantFees, wantSpent, wantErr := connectOracle(b, txids, height, view, p)
		fees, err := CheckBlockConnect(b, txids, height, view, p)
		if fees != wantFees || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("case %d: CheckBlockConnect = %d, %v; oracle %d, %v", n, fees, err, wantFees, wantErr)
		}
		fees, spent, err := CheckBlockConnectSpent(b, txids, height, view, p)
		if fees != wantFees || fmt.Sprint(err) != fmt.Sprint(wantErr) || !slices.Equal(spent, wantSpent) {
			t.Fatalf("case %d: CheckBlockConnectSpent = %d, %v, %v; oracle %d, %v, %v", n, fees, spent, err, wantFees, wantSpent, wantErr)
		}
		var re *RuleError
		switch {
		case err == nil:
			kinds["valid"]++
		case errors.As(err, &re):
			kinds[string(re.Kind)]++
		}
		for i, tx := range b.Txs {
			for _, in := range tx.Inputs {
				for j := 0; j < i; j++ {
					if err == nil && in.Prev.TxID == txids[j] {
						kinds["valid, spending the block's own outputs"]++
					}
				}
			}
		}
	}
	// The cases reach what the view must get right.
	for _, k := range []string{"valid", "valid, spending the block's own outputs", string(ErrDoubleSpend), string(ErrOverwriteTx), string(ErrMissingInput)} {
		if kinds[k] < 20 {
			t.Errorf("only %d cases of %q: %v", kinds[k], k, kinds)
		}
	}
	t.Logf("cases: %v", kinds)
}

// TestTxIndex: the sorted index finds the first position of every txid of
// a block, including txids sharing their first 8 bytes or repeated, and
// nothing else; a block too large for its positions uses the map.
func TestTxIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	check := func(txids []wire.Hash, probes []wire.Hash) {
		t.Helper()
		want := map[wire.Hash]int{}
		for i, id := range txids {
			if _, ok := want[id]; !ok {
				want[id] = i
			}
		}
		x := newTxIndex(txids)
		for _, id := range probes {
			j, ok := x.first(id)
			w, wok := want[id]
			if ok != wok || j != w {
				t.Fatalf("first(%x) = %d %v, want %d %v", id[:10], j, ok, w, wok)
			}
		}
	}
	var txids, probes []wire.Hash
	for i := 0; i < 3000; i++ {
		var id wire.Hash
		switch {
		case i > 0 && r.IntN(10) == 0: // a repeat
			id = txids[r.IntN(len(txids))]
		case i > 0 && r.IntN(5) == 0: // the same first 8 bytes (and more), another txid
			id = txids[r.IntN(len(txids))]
			id[8+r.IntN(24)] ^= 1
		default:
			for k := range id {
				id[k] = byte(r.IntN(256))
			}
		}
		txids = append(txids, id)
		probes = append(probes, id)
		other := id
		other[r.IntN(32)] ^= 0x80 // absent, or another of the block's
		probes = append(probes, other)
	}
	check(txids, probes)

	big := make([]wire.Hash, 1<<posBits)
	for i := range big {
		binary.LittleEndian.PutUint64(big[i][8:], uint64(i))
	}
	big[len(big)-1] = big[3] // a repeat: the first position wins
	if x := newTxIndex(big); x.big == nil {
		t.Fatal("a block of 2^20 transactions did not get the map")
	}
	check(big, []wire.Hash{big[0], big[3], big[len(big)-2], {1}})
}
