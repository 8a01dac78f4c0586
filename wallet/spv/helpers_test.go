package spv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

var (
	asertOnce   sync.Once
	asertParams *consensus.Params
	asertErr    error
)

// testParams returns public-network-like parameters with ASERT on
// (half-life 600 s, spacing 600 s) but the easiest target, so headers
// are mined in a few tries and their bits still follow the ASERT rule.
func testParams(t testing.TB) *consensus.Params {
	t.Helper()
	asertOnce.Do(func() {
		var doc map[string]any
		if asertErr = json.Unmarshal(consensus.DefaultGenesisJSON, &doc); asertErr != nil {
			return
		}
		delete(doc, "dev")
		doc["network"] = "tally-spvtest"
		doc["network_id"] = "7a115e57"
		doc["pow_limit_bits"] = "207fffff"
		doc["asert_half_life_seconds"] = 600
		g := doc["genesis"].(map[string]any)
		g["bits"] = "207fffff"
		for nonce := 0; nonce < 1000; nonce++ {
			g["nonce"] = nonce
			data, err := json.Marshal(doc)
			if err != nil {
				asertErr = err
				return
			}
			if asertParams, asertErr = consensus.LoadGenesis(data, false); asertErr == nil {
				return
			}
		}
	})
	if asertErr != nil {
		t.Fatal(asertErr)
	}
	return asertParams
}

// testNow is a clock a day after the genesis time, so no test header is
// from the future.
func testNow(p *consensus.Params) func() time.Time {
	return func() time.Time { return time.Unix(int64(p.GenesisTime)+86400, 0) }
}

// builder makes chains of mined blocks.
type builder struct {
	t testing.TB
	g *testgen.Gen
}

func newBuilder(t testing.TB, p *consensus.Params) *builder {
	return &builder{t: t, g: testgen.New(p)}
}

// extend returns chain (whose blocks are at heights 0..len-1, chain[0]
// the genesis block) with n more blocks, each gap seconds after its
// parent. mungers run on each new block before it is mined.
func (b *builder) extend(blocks []*wire.Block, n int, gap uint64, mungers ...func(*wire.Block)) []*wire.Block {
	out := append([]*wire.Block(nil), blocks...)
	for i := 0; i < n; i++ {
		h := uint64(len(out) - 1)
		parent := testgen.ParentOf(out[h], h)
		ms := append([]func(*wire.Block){func(blk *wire.Block) {
			blk.Header.Time = parent.Header.Time + gap
		}}, mungers...)
		out = append(out, b.g.Block(parent, nil, ms...))
	}
	return out
}

// genesisChain returns the chain holding only the genesis block.
func (b *builder) genesisChain() []*wire.Block { return []*wire.Block{b.g.P.Genesis} }

// withTxs returns a block on parent (at height) holding n extra
// transactions (not valid spends: the light client only sees txids).
func (b *builder) withTxs(blocks []*wire.Block, n int, gap uint64) []*wire.Block {
	h := uint64(len(blocks) - 1)
	parent := testgen.ParentOf(blocks[h], h)
	var txs []*wire.Tx
	for i := 0; i < n; i++ {
		txs = append(txs, &wire.Tx{Version: 1, Outputs: []wire.TxOut{{Amount: uint64(i + 1)}}, Extra: []byte(fmt.Sprintf("tx %d at %d", i, h+1))})
	}
	blk := b.g.Block(parent, txs, func(blk *wire.Block) { blk.Header.Time = parent.Header.Time + gap })
	return append(append([]*wire.Block(nil), blocks...), blk)
}

// remine re-solves blocks[from:] so that each links to the one before,
// after a munger changed blocks[from]'s header.
func remine(p *consensus.Params, blocks []*wire.Block, from int) {
	for i := from; i < len(blocks); i++ {
		if i > from {
			blocks[i].Header.PrevBlock = blocks[i-1].BlockID()
		}
		blocks[i].Header.Nonce = 0
		testgen.Solve(&blocks[i].Header, p)
	}
}

// fakeSource serves a chain of blocks from memory.
type fakeSource struct {
	name   string
	blocks []*wire.Block
	// tamper, if set, changes each proof before it is served.
	tamper func(*Proof)
	calls  int
}

func (f *fakeSource) String() string { return f.name }

func (f *fakeSource) GetHeaders(_ context.Context, start uint64, count int) ([]wire.Header, error) {
	f.calls++
	var out []wire.Header
	for h := start; h < uint64(len(f.blocks)) && len(out) < count; h++ {
		out = append(out, f.blocks[h].Header)
	}
	return out, nil
}

var errNoTx = errors.New("no such transaction")

func (f *fakeSource) GetMerkleProof(_ context.Context, txid wire.Hash) (*Proof, error) {
	for h, blk := range f.blocks {
		ids := blk.TxIDs()
		for i, id := range ids {
			if id != txid {
				continue
			}
			mp, err := wire.BuildMerkleProof(ids, i)
			if err != nil {
				return nil, err
			}
			p := &Proof{Height: uint64(h), BlockID: blk.BlockID(), Header: blk.Header, Merkle: mp}
			if f.tamper != nil {
				f.tamper(p)
			}
			return p, nil
		}
	}
	return nil, errNoTx
}

func headersOf(blocks []*wire.Block) []wire.Header {
	out := make([]wire.Header, len(blocks))
	for i, b := range blocks {
		out[i] = b.Header
	}
	return out
}

// chainWork returns the total work of blocks.
func chainWork(blocks []*wire.Block) string { return sumWork(headersOf(blocks)).String() }

// newTestClient returns a client with a memory store over sources.
func newTestClient(p *consensus.Params, sources ...HeaderSource) *Client {
	c := NewClient(p, NewMemoryStore(p), sources...)
	c.Now = testNow(p)
	return c
}
