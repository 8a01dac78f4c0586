package consensus_test

import (
	"errors"
	"math"
	"testing"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// Table-driven tests of the pure rule functions. Every table starts from a
// valid input (a row expecting nil) and each other row is one named
// mutation of it expecting one exact ErrorKind, so removing or weakening any
// rule makes some row fail.

func devParams(t *testing.T) *consensus.Params {
	t.Helper()
	p, err := consensus.Default(true)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mainParams(t *testing.T) *consensus.Params {
	t.Helper()
	p, err := consensus.Default(false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkKind fails unless err is nil when want is nil, or else a
// *consensus.RuleError (possibly wrapped) of exactly kind want.
func checkKind(t *testing.T, err error, want consensus.ErrorKind) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got nil, want %s", want)
	}
	var re *consensus.RuleError
	if !errors.As(err, &re) {
		t.Fatalf("got %T %v, want a *RuleError of kind %s", err, err, want)
	}
	if re.Kind != want || !errors.Is(err, want) {
		t.Fatalf("got kind %s (%v), want %s", re.Kind, err, want)
	}
}

func cloneTx(tx *wire.Tx) *wire.Tx {
	c := *tx
	c.Inputs = append([]wire.TxIn(nil), tx.Inputs...)
	c.Outputs = append([]wire.TxOut(nil), tx.Outputs...)
	c.Extra = append([]byte(nil), tx.Extra...)
	return &c
}

func cloneBlock(b *wire.Block) *wire.Block {
	c := &wire.Block{Header: b.Header, Txs: make([]*wire.Tx, len(b.Txs))}
	for i, tx := range b.Txs {
		c.Txs[i] = cloneTx(tx)
	}
	return c
}

// mapView is a CoinView backed by a map.
type mapView map[wire.OutPoint]wire.Coin

func (v mapView) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	c, ok := v[op]
	return c, ok, nil
}

func (v mapView) clone() mapView {
	c := make(mapView, len(v))
	for k, x := range v {
		c[k] = x
	}
	return c
}

func heightExtra(h uint64, free int) []byte {
	b := make([]byte, 8+free)
	for i := 0; i < 8; i++ {
		b[i] = byte(h >> (8 * i))
	}
	return b
}

func otherPKH(b byte) [20]byte {
	var pkh [20]byte
	for i := range pkh {
		pkh[i] = b
	}
	return pkh
}

func TestCheckHeaderSanity(t *testing.T) {
	dev, main := devParams(t), mainParams(t)
	tests := []struct {
		name   string
		main   bool // start from the main network's genesis with its params
		mutate func(h *wire.Header, p *consensus.Params)
		want   consensus.ErrorKind
	}{
		{name: "valid dev genesis"},
		{name: "valid main genesis", main: true},
		{name: "version 0", mutate: func(h *wire.Header, _ *consensus.Params) { h.Version = 0 }, want: consensus.ErrBadVersion},
		{name: "version 2", mutate: func(h *wire.Header, _ *consensus.Params) { h.Version = 2 }, want: consensus.ErrBadVersion},
		{name: "negative target", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x20ffffff }, want: consensus.ErrBadTarget},
		{name: "negative tiny target", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x03800001 }, want: consensus.ErrBadTarget},
		{name: "zero bits", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0 }, want: consensus.ErrBadTarget},
		{name: "zero mantissa", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x20000000 }, want: consensus.ErrBadTarget},
		{name: "mantissa shifted out to zero", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x01003456 }, want: consensus.ErrBadTarget},
		{name: "overflow size 35", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x23000001 }, want: consensus.ErrBadTarget},
		{name: "overflow size 34 word 0x100", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x22000100 }, want: consensus.ErrBadTarget},
		{name: "overflow 2^256", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x21010000 }, want: consensus.ErrBadTarget},
		{name: "above dev pow limit (2^255)", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x21008000 }, want: consensus.ErrBadTarget},
		{name: "above dev pow limit (largest 256-bit)", mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x2100ffff }, want: consensus.ErrBadTarget},
		{name: "main: just above pow limit", main: true, mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x1f010000 }, want: consensus.ErrBadTarget},
		{name: "main: dev pow limit", main: true, mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x207fffff }, want: consensus.ErrBadTarget},
		{name: "main: harder target the id misses", main: true, mutate: func(h *wire.Header, _ *consensus.Params) { h.Bits = 0x1d00ffff }, want: consensus.ErrBadPoW},
		{name: "pow miss", mutate: func(h *wire.Header, p *consensus.Params) {
			target := consensus.CompactToBig(h.Bits)
			for consensus.HashToBig(h.BlockID()).Cmp(target) <= 0 {
				h.Nonce++
			}
		}, want: consensus.ErrBadPoW},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dev
			if tc.main {
				p = main
			}
			h := p.Genesis.Header
			if tc.mutate != nil {
				tc.mutate(&h, p)
			}
			checkKind(t, consensus.CheckHeaderSanity(&h, h.BlockID(), p), tc.want)
		})
	}
}

func TestCheckHeaderContext(t *testing.T) {
	main := mainParams(t)
	// A parent a half-life (288 blocks of 600 s) ahead of schedule: ASERT
	// halves the genesis target exactly, 0xffff<<224 / 2 = 0x7fff80<<216.
	const halfBits = 0x1e7fff80
	parent := consensus.Parent{Height: 289, Time: main.GenesisTime + 600, MedianTime: main.GenesisTime + 100}
	now := int64(main.GenesisTime + 5000)
	maxFuture := uint64(now) + uint64(main.MaxFutureSeconds)
	if got := consensus.NextBits(main, parent.Height, parent.Time); got != halfBits {
		t.Fatalf("NextBits = %08x, want %08x", got, halfBits)
	}

	tests := []struct {
		name   string
		dev    bool
		mutate func(h *wire.Header)
		want   consensus.ErrorKind
	}{
		{name: "valid, time MTP+1", mutate: func(h *wire.Header) {}},
		{name: "genesis bits while ASERT halves", mutate: func(h *wire.Header) { h.Bits = main.GenesisBits }, want: consensus.ErrBadBits},
		{name: "bits off by one", mutate: func(h *wire.Header) { h.Bits = halfBits - 1 }, want: consensus.ErrBadBits},
		{name: "bits easier by one", mutate: func(h *wire.Header) { h.Bits = halfBits + 1 }, want: consensus.ErrBadBits},
		{name: "time == MTP", mutate: func(h *wire.Header) { h.Time = parent.MedianTime }, want: consensus.ErrTimeTooOld},
		{name: "time < MTP", mutate: func(h *wire.Header) { h.Time = parent.MedianTime - 1 }, want: consensus.ErrTimeTooOld},
		{name: "time 0", mutate: func(h *wire.Header) { h.Time = 0 }, want: consensus.ErrTimeTooOld},
		{name: "time == now+max_future", mutate: func(h *wire.Header) { h.Time = maxFuture }},
		{name: "time == now+max_future+1", mutate: func(h *wire.Header) { h.Time = maxFuture + 1 }, want: consensus.ErrTimeTooNew},
		{name: "time far future", mutate: func(h *wire.Header) { h.Time = math.MaxUint64 }, want: consensus.ErrTimeTooNew},
		{name: "dev: retargeting off, genesis bits", dev: true, mutate: func(h *wire.Header) { h.Bits = 0x207fffff }},
		{name: "dev: retargeting off, other bits", dev: true, mutate: func(h *wire.Header) { h.Bits = 0x207ffffe }, want: consensus.ErrBadBits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := main
			if tc.dev {
				p = devParams(t)
			}
			h := wire.Header{Version: 1, Time: parent.MedianTime + 1, Bits: halfBits}
			tc.mutate(&h)
			checkKind(t, consensus.CheckHeaderContext(&h, parent, p, now), tc.want)
		})
	}
}

func TestMedianTime(t *testing.T) {
	tests := []struct {
		name  string
		times []uint64
		want  uint64
	}{
		{"none", nil, 0},
		{"1", []uint64{7}, 7},
		{"2: element 1", []uint64{10, 20}, 20},
		{"2 unsorted", []uint64{20, 10}, 20},
		{"3", []uint64{1, 2, 3}, 2},
		{"4: element 2", []uint64{1, 2, 3, 4}, 3},
		{"5", []uint64{1, 2, 3, 4, 5}, 3},
		{"6: element 3", []uint64{1, 2, 3, 4, 5, 6}, 4},
		{"7", []uint64{1, 2, 3, 4, 5, 6, 7}, 4},
		{"8", []uint64{1, 2, 3, 4, 5, 6, 7, 8}, 5},
		{"9", []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}, 5},
		{"10", []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 6},
		{"11", []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 6},
		{"11 reversed", []uint64{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 6},
		{"11 shuffled", []uint64{50, 3, 99, 7, 7, 1000, 2, 8, 60, 1, 40}, 8},
		{"4 unsorted", []uint64{400, 100, 300, 200}, 300},
		{"duplicates", []uint64{5, 5, 1, 5}, 5},
		{"extremes", []uint64{math.MaxUint64, 0, math.MaxUint64}, math.MaxUint64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]uint64(nil), tc.times...)
			if got := consensus.MedianTime(in); got != tc.want {
				t.Fatalf("MedianTime(%v) = %d, want %d", tc.times, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.times[i] {
					t.Fatalf("MedianTime modified its input: %v", in)
				}
			}
		})
	}
}

func TestCheckTxSanity(t *testing.T) {
	dev := devParams(t)
	g := testgen.New(dev)
	spend := g.Pay(g.GenesisSpends(), 2, 1000)
	coinbase := g.Coinbase(5, consensus.Subsidy(dev, 5))
	maxMoney := dev.MaxMoney

	tests := []struct {
		name     string
		coinbase bool
		mutate   func(tx *wire.Tx, p *consensus.Params)
		want     consensus.ErrorKind
	}{
		{name: "valid spend"},
		{name: "valid coinbase", coinbase: true},
		{name: "version 0", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Version = 0 }, want: consensus.ErrBadTxVersion},
		{name: "version 2", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Version = 2 }, want: consensus.ErrBadTxVersion},
		{name: "coinbase version 2", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Version = 2 }, want: consensus.ErrBadTxVersion},
		{name: "no outputs", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Outputs = nil }, want: consensus.ErrNoOutputs},
		// SPEC section 2: a coinbase whose reward is 0 has no outputs;
		// CheckBlockConnect, which knows the reward, judges it.
		{name: "coinbase no outputs", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Outputs = nil }},
		{name: "zero amount", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Outputs[1].Amount = 0 }, want: consensus.ErrBadOutputValue},
		{name: "coinbase zero amount", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Outputs[0].Amount = 0 }, want: consensus.ErrBadOutputValue},
		{name: "amount == max_money", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Outputs = tx.Outputs[:1]; tx.Outputs[0].Amount = maxMoney }},
		{name: "amount > max_money", mutate: func(tx *wire.Tx, _ *consensus.Params) {
			tx.Outputs = tx.Outputs[:1]
			tx.Outputs[0].Amount = maxMoney + 1
		}, want: consensus.ErrBadOutputValue},
		{name: "coinbase amount > max_money", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Outputs[0].Amount = maxMoney + 1 }, want: consensus.ErrBadOutputValue},
		{name: "amount 2^64-1", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Outputs[0].Amount = math.MaxUint64 }, want: consensus.ErrBadOutputValue},
		{name: "outputs sum == max_money", mutate: func(tx *wire.Tx, _ *consensus.Params) {
			tx.Outputs[0].Amount, tx.Outputs[1].Amount = maxMoney-1, 1
		}},
		{name: "outputs sum max_money+1", mutate: func(tx *wire.Tx, _ *consensus.Params) {
			tx.Outputs[0].Amount, tx.Outputs[1].Amount = maxMoney, 1
		}, want: consensus.ErrOutputsOverflow},
		{name: "two outputs of max_money", mutate: func(tx *wire.Tx, _ *consensus.Params) {
			tx.Outputs[0].Amount, tx.Outputs[1].Amount = maxMoney, maxMoney
		}, want: consensus.ErrOutputsOverflow},
		{name: "outputs sum wraps 2^64 (max_money 2^64-1)", mutate: func(tx *wire.Tx, p *consensus.Params) {
			p.MaxMoney = math.MaxUint64
			tx.Outputs[0].Amount, tx.Outputs[1].Amount = 1<<63, 1<<63
		}, want: consensus.ErrOutputsOverflow},
		{name: "outputs sum wraps to 1 (max_money 2^64-1)", mutate: func(tx *wire.Tx, p *consensus.Params) {
			p.MaxMoney = math.MaxUint64
			tx.Outputs[0].Amount, tx.Outputs[1].Amount = math.MaxUint64, 2
		}, want: consensus.ErrOutputsOverflow},
		{name: "size == max_tx_bytes", mutate: func(tx *wire.Tx, p *consensus.Params) { p.MaxTxBytes = tx.SerializeSize() }},
		{name: "size > max_tx_bytes", mutate: func(tx *wire.Tx, p *consensus.Params) { p.MaxTxBytes = tx.SerializeSize() - 1 }, want: consensus.ErrTxTooBig},
		{name: "coinbase size > max_tx_bytes", coinbase: true, mutate: func(tx *wire.Tx, p *consensus.Params) { p.MaxTxBytes = tx.SerializeSize() - 1 }, want: consensus.ErrTxTooBig},
		{name: "duplicate inputs", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Inputs = append(tx.Inputs, tx.Inputs[0]) }, want: consensus.ErrDuplicateInput},
		{name: "duplicate inputs not adjacent", mutate: func(tx *wire.Tx, _ *consensus.Params) {
			other := tx.Inputs[0]
			other.Prev.Index++
			tx.Inputs = append(tx.Inputs, other, tx.Inputs[0])
		}, want: consensus.ErrDuplicateInput},
		{name: "same txid other index", mutate: func(tx *wire.Tx, _ *consensus.Params) {
			other := tx.Inputs[0]
			other.Prev.Index++
			tx.Inputs = append(tx.Inputs, other)
		}},
		{name: "memo 80", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Extra = make([]byte, 80) }},
		{name: "memo 81", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Extra = make([]byte, 81) }, want: consensus.ErrMemoTooLong},
		{name: "lock_time set (finality is judged per block)", mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.LockTime = 1 << 40 }},
		{name: "coinbase extra 0", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Extra = nil }, want: consensus.ErrBadCoinbaseExtra},
		{name: "coinbase extra 7", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Extra = tx.Extra[:7] }, want: consensus.ErrBadCoinbaseExtra},
		{name: "coinbase extra 8", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Extra = heightExtra(5, 0) }},
		{name: "coinbase extra 100", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Extra = heightExtra(5, 92) }},
		{name: "coinbase extra 101", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.Extra = heightExtra(5, 93) }, want: consensus.ErrBadCoinbaseExtra},
		{name: "coinbase lock_time 1", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.LockTime = 1 }, want: consensus.ErrCoinbaseLockTime},
		{name: "coinbase lock_time == height", coinbase: true, mutate: func(tx *wire.Tx, _ *consensus.Params) { tx.LockTime = 5 }, want: consensus.ErrCoinbaseLockTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := *dev
			tx := cloneTx(spend)
			if tc.coinbase {
				tx = cloneTx(coinbase)
			}
			if tc.mutate != nil {
				tc.mutate(tx, &p)
			}
			checkKind(t, consensus.CheckTxSanity(tx, &p), tc.want)
		})
	}
}

func TestCheckBlockSanity(t *testing.T) {
	dev := devParams(t)
	g := testgen.New(dev)
	tx1 := g.Pay(g.GenesisSpends(), 2, 1000)
	tx2 := g.Pay(testgen.Outputs(tx1)[:1], 1, 500)
	base := g.Block(g.Genesis(), []*wire.Tx{tx1, tx2})
	const height = 1

	tests := []struct {
		name     string
		mutate   func(b *wire.Block, p *consensus.Params)
		keepRoot bool // leave the header's Merkle root as it was
		height   uint64
		want     consensus.ErrorKind
	}{
		{name: "valid"},
		{name: "wrong merkle root", keepRoot: true, mutate: func(b *wire.Block, _ *consensus.Params) { b.Header.MerkleRoot[0] ^= 1 }, want: consensus.ErrBadMerkleRoot},
		{name: "reordered txs", keepRoot: true, mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[1], b.Txs[2] = b.Txs[2], b.Txs[1] }, want: consensus.ErrBadMerkleRoot},
		{name: "wrong root and no coinbase: root first", keepRoot: true, mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs = b.Txs[1:] }, want: consensus.ErrBadMerkleRoot},
		{name: "wrong root and a non-final tx: root first", keepRoot: true, mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[1].LockTime = 99 }, want: consensus.ErrBadMerkleRoot},
		{name: "no txs, root of the txs", keepRoot: true, mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs = nil }, want: consensus.ErrBadMerkleRoot},
		{name: "no txs, zero root", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs = nil }, want: consensus.ErrNoTxs},
		{name: "size == max_block_bytes", mutate: func(b *wire.Block, p *consensus.Params) { p.MaxBlockBytes = b.SerializeSize() }},
		{name: "size > max_block_bytes", mutate: func(b *wire.Block, p *consensus.Params) { p.MaxBlockBytes = b.SerializeSize() - 1 }, want: consensus.ErrBlockTooBig},
		{name: "first not coinbase", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs = b.Txs[1:] }, want: consensus.ErrFirstTxNotCoinbase},
		{name: "coinbase last", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs = append(b.Txs[1:], b.Txs[0]) }, want: consensus.ErrFirstTxNotCoinbase},
		{name: "second coinbase", mutate: func(b *wire.Block, _ *consensus.Params) {
			b.Txs = append(b.Txs, g.Coinbase(height, 1))
			b.Txs[len(b.Txs)-1].Extra = heightExtra(height, 1) // differs from the first
		}, want: consensus.ErrMultipleCoinbases},
		{name: "coinbase repeated", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs = append(b.Txs, cloneTx(b.Txs[0])) }, want: consensus.ErrMultipleCoinbases},
		{name: "duplicate txid", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs = append(b.Txs, cloneTx(b.Txs[1])) }, want: consensus.ErrDuplicateTx},
		{name: "duplicate txid adjacent", mutate: func(b *wire.Block, _ *consensus.Params) {
			b.Txs = []*wire.Tx{b.Txs[0], b.Txs[1], cloneTx(b.Txs[1]), b.Txs[2]}
		}, want: consensus.ErrDuplicateTx},
		{name: "tx sanity: memo 81", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[2].Extra = make([]byte, 81) }, want: consensus.ErrMemoTooLong},
		{name: "tx sanity: last tx zero output", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[2].Outputs[0].Amount = 0 }, want: consensus.ErrBadOutputValue},
		{name: "coinbase sanity: extra 7", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[0].Extra = b.Txs[0].Extra[:7] }, want: consensus.ErrBadCoinbaseExtra},
		{name: "coinbase sanity: lock_time", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[0].LockTime = height }, want: consensus.ErrCoinbaseLockTime},
		{name: "lock_time == height", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[1].LockTime = height }},
		{name: "lock_time > height", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[2].LockTime = height + 1 }, want: consensus.ErrNonFinal},
		{name: "lock_time max", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[1].LockTime = math.MaxUint64 }, want: consensus.ErrNonFinal},
		{name: "lock_time == height at a later height", height: 7, mutate: func(b *wire.Block, _ *consensus.Params) {
			b.Txs[0].Extra = heightExtra(7, 0)
			b.Txs[1].LockTime = 7
		}},
		{name: "coinbase height + 1", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[0].Extra = heightExtra(height+1, 0) }, want: consensus.ErrBadCoinbaseHeight},
		{name: "coinbase height 0", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[0].Extra = heightExtra(0, 0) }, want: consensus.ErrBadCoinbaseHeight},
		{name: "coinbase height in a high byte", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[0].Extra[7] = 1 }, want: consensus.ErrBadCoinbaseHeight},
		{name: "block checked at another height", height: 2, want: consensus.ErrBadCoinbaseHeight},
		{name: "coinbase height then 92 free bytes", mutate: func(b *wire.Block, _ *consensus.Params) { b.Txs[0].Extra = heightExtra(height, 92) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := *dev
			b := cloneBlock(base)
			if tc.mutate != nil {
				tc.mutate(b, &p)
			}
			if !tc.keepRoot {
				b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
			}
			h := uint64(height)
			if tc.height != 0 {
				h = tc.height
			}
			checkKind(t, consensus.CheckBlockSanity(b, b.TxIDs(), h, &p), tc.want)
		})
	}
}

func TestCheckTxInputs(t *testing.T) {
	dev := devParams(t)
	g := testgen.New(dev)
	maturity := dev.CoinbaseMaturity
	opA := wire.OutPoint{TxID: wire.H([]byte("a")), Index: 0}
	opB := wire.OutPoint{TxID: wire.H([]byte("b")), Index: 1}
	baseView := mapView{
		opA: {Amount: 600, PKH: g.PKH, Height: 3},
		opB: {Amount: 400, PKH: g.PKH, Height: 3},
	}
	baseTx := g.Tx([]testgen.Spend{{Out: opA, Amount: 600}, {Out: opB, Amount: 400}},
		[]wire.TxOut{{Amount: 500, PKH: g.PKH}, {Amount: 400, PKH: otherPKH(9)}})
	otherKey := [wire.PubKeySize]byte{0x02}
	otherSeed := wire.H([]byte("not the dev key"))
	copy(otherKey[1:], otherSeed[:])

	tests := []struct {
		name   string
		height uint64 // 20 unless set
		mutate func(tx *wire.Tx, v mapView, p *consensus.Params)
		fee    uint64
		want   consensus.ErrorKind
	}{
		{name: "valid", fee: 100},
		{name: "outputs == inputs: fee 0", mutate: func(tx *wire.Tx, _ mapView, _ *consensus.Params) { tx.Outputs[0].Amount = 600 }, fee: 0},
		{name: "no inputs", mutate: func(tx *wire.Tx, _ mapView, _ *consensus.Params) { tx.Inputs = nil }, want: consensus.ErrNoInputs},
		{name: "first input missing", mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) { delete(v, opA) }, want: consensus.ErrMissingInput},
		{name: "second input missing", mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) { delete(v, opB) }, want: consensus.ErrMissingInput},
		{name: "input index points elsewhere", mutate: func(tx *wire.Tx, _ mapView, _ *consensus.Params) { tx.Inputs[1].Prev.Index = 0 }, want: consensus.ErrMissingInput},
		{name: "coinbase coin at c+maturity-1", height: 15 + maturity - 1, mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) {
			v[opB] = wire.Coin{Amount: 400, PKH: g.PKH, Height: 15, Coinbase: true}
		}, want: consensus.ErrImmatureSpend},
		{name: "coinbase coin at its own height", height: 15, mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) {
			v[opA] = wire.Coin{Amount: 600, PKH: g.PKH, Height: 15, Coinbase: true}
		}, want: consensus.ErrImmatureSpend},
		{name: "coinbase coin at c+maturity", height: 15 + maturity, mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) {
			v[opB] = wire.Coin{Amount: 400, PKH: g.PKH, Height: 15, Coinbase: true}
		}, fee: 100},
		{name: "genesis coinbase coin spendable at height 1", height: 1, mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) {
			v[opA] = wire.Coin{Amount: 600, PKH: g.PKH, Height: 0, Coinbase: true}
			v[opB] = wire.Coin{Amount: 400, PKH: g.PKH, Height: 0, Coinbase: true}
		}, fee: 100},
		{name: "non-coinbase coin at the spend height", height: 20, mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) {
			v[opA] = wire.Coin{Amount: 600, PKH: g.PKH, Height: 20}
		}, fee: 100},
		{name: "output pkh not the key's", mutate: func(_ *wire.Tx, v mapView, _ *consensus.Params) {
			c := v[opB]
			c.PKH = otherPKH(7)
			v[opB] = c
		}, want: consensus.ErrWrongPubKey},
		{name: "input pubkey not the owner's", mutate: func(tx *wire.Tx, _ mapView, _ *consensus.Params) { tx.Inputs[0].PubKey = otherKey }, want: consensus.ErrWrongPubKey},
		{name: "inputs sum == max_money", mutate: func(_ *wire.Tx, v mapView, p *consensus.Params) {
			c := v[opA]
			c.Amount = p.MaxMoney - 400
			v[opA] = c
		}, fee: dev.MaxMoney - 900},
		{name: "inputs sum above max_money", mutate: func(_ *wire.Tx, v mapView, p *consensus.Params) {
			c := v[opA]
			c.Amount = p.MaxMoney
			v[opA] = c
		}, want: consensus.ErrInputsOverflow},
		{name: "one input above max_money", mutate: func(_ *wire.Tx, v mapView, p *consensus.Params) {
			c := v[opA]
			c.Amount = p.MaxMoney + 1
			v[opA] = c
		}, want: consensus.ErrInputsOverflow},
		{name: "inputs sum wraps 2^64 (max_money 2^64-1)", mutate: func(_ *wire.Tx, v mapView, p *consensus.Params) {
			p.MaxMoney = math.MaxUint64
			a, b := v[opA], v[opB]
			a.Amount, b.Amount = 1<<63, 1<<63
			v[opA], v[opB] = a, b
		}, want: consensus.ErrInputsOverflow},
		{name: "spend one more than the inputs", mutate: func(tx *wire.Tx, _ mapView, _ *consensus.Params) { tx.Outputs[0].Amount += 101 }, want: consensus.ErrSpendTooMuch},
		{name: "spend far more than the inputs", mutate: func(tx *wire.Tx, _ mapView, p *consensus.Params) { tx.Outputs[0].Amount = p.MaxMoney - 400 }, want: consensus.ErrSpendTooMuch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := *dev
			tx, v := cloneTx(baseTx), baseView.clone()
			if tc.mutate != nil {
				tc.mutate(tx, v, &p)
			}
			height := uint64(20)
			if tc.height != 0 {
				height = tc.height
			}
			fee, err := consensus.CheckTxInputs(tx, tx.TxID(), height, v, &p)
			checkKind(t, err, tc.want)
			if fee != tc.fee {
				t.Fatalf("fee %d, want %d", fee, tc.fee)
			}
		})
	}
}

func TestCheckBlockConnect(t *testing.T) {
	dev := devParams(t)
	g := testgen.New(dev)
	const height = 1
	subsidy := consensus.Subsidy(dev, height)
	genSpends := g.GenesisSpends()
	tx1 := g.Pay(genSpends, 2, 1000)                        // spends the genesis allocation
	tx2 := g.Pay(testgen.Outputs(tx1)[:1], 1, 500)          // spends tx1's first output, in the same block
	respend := g.Pay(genSpends, 1, 7)                       // the genesis allocation again
	respendInBlock := g.Pay(testgen.Outputs(tx1)[:1], 1, 9) // tx1's first output again
	base := g.Block(g.Genesis(), []*wire.Tx{tx1, tx2})
	genCoin := wire.Coin{Amount: genSpends[0].Amount, PKH: g.PKH, Height: 0, Coinbase: true}
	baseView := mapView{genSpends[0].Out: genCoin}
	if got := base.Txs[0].Outputs[0].Amount; got != subsidy+1500 {
		t.Fatalf("testgen coinbase pays %d, want %d", got, subsidy+1500)
	}
	// Two coins of max_money each: impossible in a real UTXO set, but fees
	// of max_money-1 each then sum above max_money.
	opX := wire.OutPoint{TxID: wire.H([]byte("x"))}
	opY := wire.OutPoint{TxID: wire.H([]byte("y"))}
	bigX := g.Tx([]testgen.Spend{{Out: opX}}, []wire.TxOut{{Amount: 1, PKH: g.PKH}})
	bigY := g.Tx([]testgen.Spend{{Out: opY}}, []wire.TxOut{{Amount: 1, PKH: g.PKH}})

	tests := []struct {
		name   string
		mutate func(b *wire.Block, v mapView)
		fees   uint64
		want   consensus.ErrorKind
	}{
		{name: "valid: fees summed, coinbase == subsidy+fees", fees: 1500},
		{name: "coinbase below subsidy+fees", mutate: func(b *wire.Block, _ mapView) { b.Txs[0].Outputs[0].Amount-- }, fees: 1500},
		{name: "coinbase subsidy+fees+1", mutate: func(b *wire.Block, _ mapView) { b.Txs[0].Outputs[0].Amount++ }, want: consensus.ErrBadCoinbaseValue},
		{name: "coinbase outputs summed above subsidy+fees", mutate: func(b *wire.Block, _ mapView) {
			b.Txs[0].Outputs = append(b.Txs[0].Outputs, wire.TxOut{Amount: 1, PKH: g.PKH})
		}, want: consensus.ErrBadCoinbaseValue},
		{name: "only the coinbase, paying the subsidy", mutate: func(b *wire.Block, _ mapView) {
			b.Txs = b.Txs[:1]
			b.Txs[0].Outputs[0].Amount = subsidy
		}},
		{name: "only the coinbase, paying subsidy+1", mutate: func(b *wire.Block, _ mapView) {
			b.Txs = b.Txs[:1]
			b.Txs[0].Outputs[0].Amount = subsidy + 1
		}, want: consensus.ErrBadCoinbaseValue},
		{name: "coinbase without outputs while the reward is not 0", mutate: func(b *wire.Block, _ mapView) {
			b.Txs[0].Outputs = nil
		}, want: consensus.ErrNoOutputs},
		{name: "only a coinbase without outputs while the subsidy is not 0", mutate: func(b *wire.Block, _ mapView) {
			b.Txs[0].Outputs = nil
			b.Txs = b.Txs[:1]
		}, want: consensus.ErrNoOutputs},
		{name: "double spend of a view output", mutate: func(b *wire.Block, _ mapView) { b.Txs = append(b.Txs, cloneTx(respend)) }, want: consensus.ErrDoubleSpend},
		// An output created in the block and spent twice in it is a
		// double spend, as one from the view is.
		{name: "double spend of an output created in the block", mutate: func(b *wire.Block, _ mapView) {
			b.Txs = append(b.Txs, cloneTx(respendInBlock))
		}, want: consensus.ErrDoubleSpend},
		{name: "spend of an output created later in the block", mutate: func(b *wire.Block, _ mapView) {
			b.Txs[1], b.Txs[2] = b.Txs[2], b.Txs[1]
		}, want: consensus.ErrMissingInput},
		{name: "spend of the block's own coinbase", mutate: func(b *wire.Block, _ mapView) {
			b.Txs = append(b.Txs, g.Pay(testgen.Outputs(b.Txs[0]), 1, 0))
		}, want: consensus.ErrImmatureSpend},
		{name: "missing input", mutate: func(_ *wire.Block, v mapView) { delete(v, genSpends[0].Out) }, want: consensus.ErrMissingInput},
		{name: "BIP30: coinbase overwrites an unspent output", mutate: func(b *wire.Block, v mapView) {
			v[wire.OutPoint{TxID: b.Txs[0].TxID(), Index: 0}] = wire.Coin{Amount: 1, PKH: g.PKH, Height: 0}
		}, want: consensus.ErrOverwriteTx},
		{name: "BIP30: repeated tx overwrites its unspent outputs", mutate: func(b *wire.Block, v mapView) {
			// tx1 was connected before: its input is spent and its second
			// output is still unspent.
			delete(v, genSpends[0].Out)
			v[wire.OutPoint{TxID: b.Txs[1].TxID(), Index: 1}] = wire.Coin{Amount: 1, PKH: g.PKH, Height: 0}
		}, want: consensus.ErrOverwriteTx},
		{name: "block fees above max_money", mutate: func(b *wire.Block, v mapView) {
			v[opX] = wire.Coin{Amount: dev.MaxMoney, PKH: g.PKH}
			v[opY] = wire.Coin{Amount: dev.MaxMoney, PKH: g.PKH}
			b.Txs = []*wire.Tx{b.Txs[0], cloneTx(bigX), cloneTx(bigY)}
		}, want: consensus.ErrInputsOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, v := cloneBlock(base), baseView.clone()
			if tc.mutate != nil {
				tc.mutate(b, v)
			}
			fees, err := consensus.CheckBlockConnect(b, b.TxIDs(), height, v, dev)
			checkKind(t, err, tc.want)
			if fees != tc.fees {
				t.Fatalf("fees %d, want %d", fees, tc.fees)
			}
		})
	}
}

// TestZeroRewardCoinbase: once the subsidy has run out (SPEC section 2),
// a block without fees has a coinbase with no outputs, and a block with
// fees pays them in a coinbase with outputs.
func TestZeroRewardCoinbase(t *testing.T) {
	dev := devParams(t)
	p := *dev
	p.InitialSubsidy = 0
	g := testgen.New(&p)
	const height = 1
	genSpends := g.GenesisSpends()
	genCoin := wire.Coin{Amount: genSpends[0].Amount, PKH: g.PKH, Height: 0, Coinbase: true}
	view := mapView{genSpends[0].Out: genCoin}
	cb := func(outs []wire.TxOut) *wire.Tx {
		return &wire.Tx{Version: 1, Outputs: outs, Extra: consensus.CoinbaseExtra(height, nil)}
	}
	feeTx := g.Pay(genSpends, 1, 700)
	tests := []struct {
		name string
		txs  []*wire.Tx
		want consensus.ErrorKind
	}{
		{name: "no fees, no outputs", txs: []*wire.Tx{cb(nil)}},
		{name: "no fees, one output of 1", txs: []*wire.Tx{cb([]wire.TxOut{{Amount: 1, PKH: g.PKH}})}, want: consensus.ErrBadCoinbaseValue},
		{name: "no fees, one output of 0", txs: []*wire.Tx{cb([]wire.TxOut{{Amount: 0, PKH: g.PKH}})}, want: consensus.ErrBadOutputValue},
		{name: "fees, paid", txs: []*wire.Tx{cb([]wire.TxOut{{Amount: 700, PKH: g.PKH}}), feeTx}},
		{name: "fees, no outputs", txs: []*wire.Tx{cb(nil), feeTx}, want: consensus.ErrNoOutputs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &wire.Block{Header: wire.Header{Version: 1}, Txs: tc.txs}
			b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
			err := consensus.CheckBlockSanity(b, b.TxIDs(), height, &p)
			if err == nil {
				_, err = consensus.CheckBlockConnect(b, b.TxIDs(), height, view.clone(), &p)
			}
			checkKind(t, err, tc.want)
		})
	}
}

func TestSubsidyHeights(t *testing.T) {
	for _, p := range []*consensus.Params{mainParams(t), devParams(t)} {
		h := p.HalvingInterval
		tests := []struct {
			name   string
			height uint64
			want   uint64
		}{
			{"genesis", 0, p.InitialSubsidy},
			{"halving-1", h - 1, p.InitialSubsidy},
			{"halving", h, p.InitialSubsidy / 2},
			{"2*halving", 2 * h, p.InitialSubsidy / 4},
			{"64*halving", 64 * h, 0},
		}
		for _, tc := range tests {
			t.Run(p.Network+"/"+tc.name, func(t *testing.T) {
				if got := consensus.Subsidy(p, tc.height); got != tc.want {
					t.Fatalf("Subsidy(%d) = %d, want %d", tc.height, got, tc.want)
				}
			})
		}
	}
	if p := mainParams(t); p.InitialSubsidy != 5000000000 || p.HalvingInterval != 210000 {
		t.Fatalf("main params: subsidy %d halving %d", p.InitialSubsidy, p.HalvingInterval)
	}
}
