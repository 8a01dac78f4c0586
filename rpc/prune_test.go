package rpc

import (
	"context"
	"fmt"
	"testing"

	"tally/chain"
	"tally/rpc/rpcjson"
	"tally/wire"
)

// prunedChain plays a pruned node: bodies below height 10 are gone.
type prunedChain struct{ Chain }

func (prunedChain) PruneHeight() (uint64, bool) { return 10, true }

func (c prunedChain) Block(id wire.Hash) (*wire.Block, error) {
	if info, ok := c.Chain.BlockInfo(id); ok && info.Height < 10 {
		return nil, fmt.Errorf("%w: block %s", chain.ErrPruned, id)
	}
	return c.Chain.Block(id)
}

// TestPrunedNode: getblockchaininfo reports pruned and pruneheight as
// Core does, and getblock answers a pruned block with Core's error, not
// "not found" nor an internal error.
func TestPrunedNode(t *testing.T) {
	f := newFixture(t)
	var info rpcjson.BlockchainInfo
	f.mustCall("getblockchaininfo", nil, &info)
	if info.Pruned || info.PruneHeight != nil {
		t.Fatalf("unpruned node reports pruned %v pruneheight %v", info.Pruned, info.PruneHeight)
	}
	_, cli := f.serve(t, Deps{Chain: prunedChain{f.c}, Mempool: f.pool})
	ctx := context.Background()
	if err := cli.Call(ctx, "getblockchaininfo", nil, &info); err != nil {
		t.Fatal(err)
	}
	if !info.Pruned || info.PruneHeight == nil || *info.PruneHeight != 10 {
		t.Fatalf("pruned node: pruned %v pruneheight %v", info.Pruned, info.PruneHeight)
	}
	err := cli.Call(ctx, "getblock", []any{f.blocks[5].BlockID()}, nil)
	if rpcCode(err) != rpcjson.CodeMisc || err.Error() == "" {
		t.Fatalf("getblock of a pruned block: %v", err)
	}
	if err := cli.Call(ctx, "getblock", []any{f.blocks[15].BlockID(), 0}, nil); err != nil {
		t.Fatalf("getblock above the prune height: %v", err)
	}
}

// assumingChain plays a node syncing below its --assumevalid block.
type assumingChain struct{ Chain }

func (assumingChain) AssumeValid() chain.AssumeValidInfo {
	return chain.AssumeValidInfo{ID: wire.H([]byte("assumed")), Height: 30, InForce: true}
}

// TestAssumeValidReported: getblockchaininfo names the --assumevalid
// block and says whether it is in force; empty and false without it.
func TestAssumeValidReported(t *testing.T) {
	f := newFixture(t)
	var info rpcjson.BlockchainInfo
	f.mustCall("getblockchaininfo", nil, &info)
	if info.AssumeValid != "" || info.AssumeValidInForce {
		t.Fatalf("node without --assumevalid: %q in force %v", info.AssumeValid, info.AssumeValidInForce)
	}
	_, cli := f.serve(t, Deps{Chain: assumingChain{f.c}, Mempool: f.pool})
	var raw map[string]any
	if err := cli.Call(context.Background(), "getblockchaininfo", nil, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["assumevalid"] != wire.H([]byte("assumed")).String() || raw["assumevalid_in_force"] != true {
		t.Fatalf("assumevalid %v, in force %v", raw["assumevalid"], raw["assumevalid_in_force"])
	}
}
