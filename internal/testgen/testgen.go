// Package testgen builds signed transactions and mined blocks for tests and
// benchmarks. It signs with real secp256k1 keys and solves real proof of
// work (on the dev network's easiest target that takes about two tries).
package testgen

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/consensus"
	"tally/wire"
)

// Spend names an output the generator may spend.
type Spend struct {
	Out    wire.OutPoint
	Amount uint64
}

// Gen makes transactions and blocks. Every output it creates pays to Key,
// and it remembers output amounts so that block coinbases claim the fees.
type Gen struct {
	P      *consensus.Params
	Key    *secp256k1.PrivateKey
	PubKey [wire.PubKeySize]byte
	PKH    [20]byte

	amounts Amounts
}

// Amounts remembers the amounts of outputs, so fees can be computed.
type Amounts map[wire.OutPoint]uint64

// Remember records the amounts of tx's outputs.
func (a Amounts) Remember(tx *wire.Tx) {
	id := tx.TxID()
	for i, o := range tx.Outputs {
		a[wire.OutPoint{TxID: id, Index: uint32(i)}] = o.Amount
	}
}

// Fee returns the fee of tx, or 0 when an input is unknown or the outputs
// exceed the inputs.
func (a Amounts) Fee(tx *wire.Tx) uint64 {
	var in, out uint64
	for _, txin := range tx.Inputs {
		v, ok := a[txin.Prev]
		if !ok {
			return 0
		}
		in += v
	}
	for _, o := range tx.Outputs {
		out += o.Amount
	}
	if out > in {
		return 0
	}
	return in - out
}

// DevParams returns the dev network's parameters or panics.
func DevParams() *consensus.Params {
	p, err := consensus.Default(true)
	if err != nil {
		panic(err)
	}
	return p
}

// New returns a generator for params p signing with the dev key.
func New(p *consensus.Params) *Gen {
	g := &Gen{P: p, Key: consensus.DevPrivateKey(), amounts: make(Amounts)}
	copy(g.PubKey[:], g.Key.PubKey().SerializeCompressed())
	g.PKH = wire.Hash160(g.PubKey[:])
	g.remember(p.Genesis.Txs[0])
	return g
}

func (g *Gen) remember(tx *wire.Tx) { g.amounts.Remember(tx) }

// Outputs returns the spendable descriptions of tx's outputs.
func Outputs(tx *wire.Tx) []Spend {
	id := tx.TxID()
	out := make([]Spend, len(tx.Outputs))
	for i, o := range tx.Outputs {
		out[i] = Spend{Out: wire.OutPoint{TxID: id, Index: uint32(i)}, Amount: o.Amount}
	}
	return out
}

// GenesisSpends returns the genesis allocations.
func (g *Gen) GenesisSpends() []Spend { return Outputs(g.P.Genesis.Txs[0]) }

// Sign sets every input's public key to the generator's and signs tx.
func (g *Gen) Sign(tx *wire.Tx) *wire.Tx {
	for i := range tx.Inputs {
		tx.Inputs[i].PubKey = g.PubKey
	}
	msg := wire.SigHash(tx, g.P.NetworkID)
	sig := consensus.SignInput(g.Key, msg)
	for i := range tx.Inputs {
		tx.Inputs[i].Sig = sig
	}
	g.remember(tx)
	return tx
}

// Tx returns a signed transaction spending spends into outs.
func (g *Gen) Tx(spends []Spend, outs []wire.TxOut) *wire.Tx {
	tx := &wire.Tx{Version: 1, Outputs: outs}
	for _, s := range spends {
		tx.Inputs = append(tx.Inputs, wire.TxIn{Prev: s.Out})
	}
	return g.Sign(tx)
}

// Pay returns a signed transaction spending spends into n equal outputs to
// the generator's key, leaving fee.
func (g *Gen) Pay(spends []Spend, n int, fee uint64) *wire.Tx {
	var total uint64
	for _, s := range spends {
		total += s.Amount
	}
	if total <= fee || n < 1 || (total-fee)/uint64(n) == 0 {
		panic(fmt.Sprintf("testgen: cannot pay %d outputs from %d with fee %d", n, total, fee))
	}
	each := (total - fee) / uint64(n)
	outs := make([]wire.TxOut, n)
	for i := range outs {
		outs[i] = wire.TxOut{Amount: each, PKH: g.PKH}
	}
	outs[n-1].Amount += (total - fee) - each*uint64(n)
	return g.Tx(spends, outs)
}

// Coinbase returns a coinbase for height paying value to the generator;
// a value of 0 gives a coinbase without outputs (SPEC section 2).
func (g *Gen) Coinbase(height uint64, value uint64) *wire.Tx {
	tx := &wire.Tx{Version: 1, Extra: consensus.CoinbaseExtra(height, nil)}
	if value > 0 {
		tx.Outputs = []wire.TxOut{{Amount: value, PKH: g.PKH}}
	}
	g.remember(tx)
	return tx
}

// Fee returns the fee of a transaction whose inputs the generator made, or
// 0 when an input is unknown to it.
func (g *Gen) Fee(tx *wire.Tx) uint64 { return g.amounts.Fee(tx) }

// Parent is the block a new block builds on.
type Parent struct {
	ID     wire.Hash
	Header wire.Header
	Height uint64
}

// ParentOf describes b at height as a parent.
func ParentOf(b *wire.Block, height uint64) Parent {
	return Parent{ID: b.BlockID(), Header: b.Header, Height: height}
}

// Genesis returns the genesis block as a parent.
func (g *Gen) Genesis() Parent { return ParentOf(g.P.Genesis, 0) }

// Block returns a mined block on parent holding a coinbase that claims the
// subsidy and the fees, then txs. Mungers run after the Merkle root is set
// and before mining: a munger that changes transactions resets the root
// with wire.MerkleRoot unless it means to break it.
func (g *Gen) Block(parent Parent, txs []*wire.Tx, mungers ...func(*wire.Block)) *wire.Block {
	height := parent.Height + 1
	var fees uint64
	for _, tx := range txs {
		fees += g.Fee(tx)
	}
	b := &wire.Block{
		Header: wire.Header{
			Version:   1,
			PrevBlock: parent.ID,
			Time:      parent.Header.Time + uint64(g.P.TargetSpacing),
			Bits:      consensus.NextBits(g.P, parent.Height, parent.Header.Time),
		},
		Txs: append([]*wire.Tx{g.Coinbase(height, consensus.Subsidy(g.P, height)+fees)}, txs...),
	}
	b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
	for _, m := range mungers {
		m(b)
	}
	Solve(&b.Header, g.P)
	return b
}

// Solve searches nonces until the header meets its own target (which may
// be above the pow limit: Solve does not judge the bits).
func Solve(h *wire.Header, p *consensus.Params) {
	target := consensus.CompactToBig(h.Bits)
	for {
		if consensus.HashToBig(h.BlockID()).Cmp(target) <= 0 {
			return
		}
		h.Nonce++
	}
}

// Remine recomputes the Merkle root of b and solves its header again, for
// mungers that change transactions after Block built it.
func Remine(b *wire.Block, p *consensus.Params) {
	b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
	Solve(&b.Header, p)
}

// FanOut returns two blocks on parent that split the genesis allocations
// into at least n outputs (100 transactions of n/100+1 outputs), the
// parent the next block builds on, and the new outputs, for benchmarks
// that need many independent coins to spend.
func (g *Gen) FanOut(parent Parent, n int) ([]*wire.Block, Parent, []Spend) {
	const first = 100
	var blocks []*wire.Block
	add := func(txs []*wire.Tx) {
		b := g.Block(parent, txs)
		blocks = append(blocks, b)
		parent = ParentOf(b, parent.Height+1)
	}
	root := g.Pay(g.GenesisSpends(), first, 0)
	add([]*wire.Tx{root})
	var fan []*wire.Tx
	var out []Spend
	for _, s := range Outputs(root) {
		tx := g.Pay([]Spend{s}, n/first+1, 1000)
		fan = append(fan, tx)
		out = append(out, Outputs(tx)...)
	}
	add(fan)
	return blocks, parent, out
}

// SpendOldest returns n signed one-input two-output transactions, each
// spending the oldest coin of queue, and leaves their outputs at its end:
// the shape of a full block of payments, each signature its own.
func (g *Gen) SpendOldest(queue *[]Spend, n int) []*wire.Tx {
	txs := make([]*wire.Tx, n)
	for i := range txs {
		txs[i] = g.Pay((*queue)[:1], 2, 200)
		*queue = append((*queue)[1:], Outputs(txs[i])...)
	}
	return txs
}

// SigJob is one input signature with the message it signs.
type SigJob struct {
	PubKey *[wire.PubKeySize]byte
	Sig    *[wire.SigSize]byte
	Msg    wire.Hash
}

// SigJobs lists the input signatures of txs, messages computed ahead, so
// that VerifyRaw times nothing but verification.
func SigJobs(txs []*wire.Tx, networkID [4]byte) []SigJob {
	var jobs []SigJob
	for _, tx := range txs {
		msg := wire.SigHash(tx, networkID)
		for j := range tx.Inputs {
			in := &tx.Inputs[j]
			jobs = append(jobs, SigJob{&in.PubKey, &in.Sig, msg})
		}
	}
	return jobs
}

// VerifyRaw verifies jobs on GOMAXPROCS goroutines as fast as the machine
// can (public key parse, range and low-S checks, ECDSA verify): the raw
// parallel signature rate a connect benchmark compares itself with.
func VerifyRaw(jobs []SigJob) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				j := &jobs[i]
				if err := consensus.VerifySignature(j.PubKey, j.Sig, j.Msg); err != nil {
					failed.Store(&err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return 0, *err
	}
	return time.Since(start), nil
}
