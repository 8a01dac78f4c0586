package chain

import (
	"errors"
	"math/big"
	"testing"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// avChain builds n blocks of one payment each; mutate, if set, may spoil
// the payment of a height after it is signed. It returns the blocks, the
// ids by height (from 1) and the cumulative work at the last one.
func avChain(p *consensus.Params, g *testgen.Gen, n int, mutate func(h int, tx *wire.Tx)) ([]*wire.Block, []wire.Hash, *big.Int) {
	var blocks []*wire.Block
	var ids []wire.Hash
	work := consensus.CalcWork(p.Genesis.Header.Bits)
	parent, spend := g.Genesis(), g.GenesisSpends()
	for h := 1; h <= n; h++ {
		tx := g.Pay(spend[:1], 2, 100)
		if mutate != nil {
			mutate(h, tx)
		}
		spend = append(spend[1:], testgen.Outputs(tx)...)
		b := g.Block(parent, []*wire.Tx{tx})
		blocks = append(blocks, b)
		ids = append(ids, b.BlockID())
		work.Add(work, consensus.CalcWork(b.Header.Bits))
		parent = testgen.ParentOf(b, uint64(h))
	}
	return blocks, ids, work
}

func avOpen(t *testing.T, p *consensus.Params, av wire.Hash) *Chain {
	t.Helper()
	c, err := OpenMemory(Config{Params: p, NoSync: true, Now: crashNow, AssumeValid: av})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAssumeValidSkipsOnlyAncestorSignatures: a block with a bad
// signature below the assumed-valid block connects once a header chain
// to the assumed block is known, and only then; blocks past the assumed
// block have their signatures checked again.
func TestAssumeValidSkipsOnlyAncestorSignatures(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	const bad, assumed = 3, 5
	blocks, ids, _ := avChain(p, g, 7, func(h int, tx *wire.Tx) {
		if h == bad || h == 7 {
			tx.Inputs[0].Sig[50] ^= 1
		}
	})
	workAt := consensus.CalcWork(p.Genesis.Header.Bits)
	for _, b := range blocks[:assumed] {
		workAt.Add(workAt, consensus.CalcWork(b.Header.Bits))
	}
	av := ids[assumed-1]

	// Without a known header chain to it, the assumed block's id alone
	// skips nothing.
	c := avOpen(t, p, av)
	for _, b := range blocks[:bad-1] {
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ProcessBlock(blocks[bad-1]); !errors.Is(err, consensus.ErrBadSignature) {
		t.Fatalf("bad signature without a header chain: %v, want %v", err, consensus.ErrBadSignature)
	}

	// With --assumevalid=0 (zero) a header chain is refused.
	off := avOpen(t, p, wire.Hash{})
	if off.AssumeHeaderChain(1, ids[:assumed], workAt) {
		t.Fatal("header chain accepted with --assumevalid off")
	}

	c = avOpen(t, p, av)
	if c.AssumeHeaderChain(1, ids[:assumed-1], workAt) {
		t.Fatal("a header chain that does not end at the assumed block was accepted")
	}
	if c.AssumeHeaderChain(1, ids[:assumed], big.NewInt(1)) {
		t.Fatal("a header chain with less work than the tip was accepted")
	}
	if !c.AssumeHeaderChain(1, ids[:assumed], workAt) {
		t.Fatal("header chain to the assumed block refused")
	}
	if info := c.AssumeValid(); !info.InForce || info.Height != assumed || info.ID != av {
		t.Fatalf("before sync: %+v", info)
	}
	for _, b := range blocks[:assumed+1] {
		if res, err := c.ProcessBlock(b); err != nil || res != MainChain {
			t.Fatalf("block %s: %v %v", b.BlockID(), res, err)
		}
	}
	if info := c.AssumeValid(); info.InForce || info.Skipped != assumed {
		t.Fatalf("after passing the assumed block: %+v, want %d skipped, not in force", info, assumed)
	}
	// Past the assumed block every signature is checked again.
	if _, err := c.ProcessBlock(blocks[6]); !errors.Is(err, consensus.ErrBadSignature) {
		t.Fatalf("bad signature past the assumed block: %v", err)
	}
}

// TestAssumeValidChecksOtherRules: an ancestor of the assumed block that
// spends an output nobody created is refused although its signatures are
// assumed.
func TestAssumeValidChecksOtherRules(t *testing.T) {
	p := testgen.DevParams()
	g := testgen.New(p)
	blocks, ids, work := avChain(p, g, 4, func(h int, tx *wire.Tx) {
		if h == 2 {
			tx.Inputs[0].Prev.Index = 7 // no such output
		}
	})
	c := avOpen(t, p, ids[3])
	if !c.AssumeHeaderChain(1, ids, work) {
		t.Fatal("header chain refused")
	}
	if _, err := c.ProcessBlock(blocks[0]); err != nil {
		t.Fatal(err)
	}
	_, err := c.ProcessBlock(blocks[1])
	if err == nil || errors.Is(err, consensus.ErrBadSignature) {
		t.Fatalf("missing input under assumevalid: %v", err)
	}
	if c.Tip().Height != 1 {
		t.Fatalf("tip %d, want 1", c.Tip().Height)
	}
}
