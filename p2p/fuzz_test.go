package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/internal/testgen"
	"tally/wire"
)

// The fuzz targets run the gossip validators and the sync message
// handlers on a node core (no host) over a fake chain and pool. Short
// runs: see docs/p2p.md ("Fuzzing").

const fuzzPeer = peer.ID("fuzz-peer")

// doneCtx is an ended context: a validator that would hold a message
// (an orphan, a side-branch block) gives its verdict at once.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

func frame(typ byte, payload []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(1+len(payload)))
	return append(append(out, typ), payload...)
}

// forgive clears the fuzz peer's points and ban, so that every input is
// validated (a banned peer's messages are not).
func forgive(n *Node) {
	n.bans.mu.Lock()
	delete(n.bans.points, fuzzPeer)
	delete(n.bans.bans, fuzzPeer)
	n.bans.mu.Unlock()
}

// checkVerdict fails on a result the validators must never give.
func checkVerdict(t *testing.T, r pubsub.ValidationResult) {
	switch r {
	case pubsub.ValidationAccept, pubsub.ValidationIgnore, pubsub.ValidationReject:
	default:
		t.Fatalf("validator returned %v", r)
	}
}

// FuzzValidateBlock: any bytes on the blocks topic get a verdict without
// a panic, and Accept only for a block now on the best chain.
func FuzzValidateBlock(f *testing.F) {
	n, c, _, g, blocks := fakeNode(f)
	tipParent := testgen.ParentOf(blocks[len(blocks)-1], uint64(len(blocks)))
	next := g.Block(tipParent, nil)
	side := g.Block(testgen.ParentOf(blocks[len(blocks)-2], uint64(len(blocks)-1)), nil, func(b *wire.Block) { b.Header.Time += 3 })
	f.Add(next.Encode())
	f.Add(side.Encode())
	f.Add(g.Block(testgen.ParentOf(next, uint64(len(blocks)+1)), nil).Encode()) // orphan
	f.Add(blocks[3].Encode())                                                   // duplicate
	f.Add(next.Encode()[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		forgive(n)
		r := n.validateBlock(doneCtx, fuzzPeer, &pubsub.Message{Message: &pb.Message{Data: data}})
		checkVerdict(t, r)
		if r == pubsub.ValidationAccept {
			b, err := wire.DecodeBlock(data)
			if err != nil {
				t.Fatalf("accepted bytes that do not decode: %v", err)
			}
			if info, ok := c.BlockInfo(b.BlockID()); !ok || !info.OnMain {
				t.Fatal("accepted a block that is not on the best chain")
			}
		}
	})
}

// FuzzValidateTx: any bytes on the transactions topic get a verdict
// without a panic, and Accept only for a transaction now in the pool.
func FuzzValidateTx(f *testing.F) {
	n, _, pool, g, _ := fakeNode(f)
	parent := g.Pay(g.GenesisSpends(), 3, 1000)
	child := g.Pay(testgen.Outputs(parent)[:1], 1, 1000)
	f.Add(parent.Encode())
	f.Add(child.Encode())
	f.Add(parent.Encode()[:20])
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		forgive(n)
		r := n.validateTx(doneCtx, fuzzPeer, &pubsub.Message{Message: &pb.Message{Data: data}})
		checkVerdict(t, r)
		if r == pubsub.ValidationAccept {
			tx, err := wire.DecodeTx(data)
			if err != nil || !pool.Has(tx.TxID()) {
				t.Fatalf("accepted a transaction not in the pool (%v)", err)
			}
		}
	})
}

// FuzzSyncRequest: any bytes on an inbound sync stream (status,
// getheaders, getblocks or garbage) are answered with well-formed frames
// or refused with an error, never a panic.
func FuzzSyncRequest(f *testing.F) {
	n, c, _, _, blocks := fakeNode(f)
	f.Add(frame(msgStatus, encodeStatus(n.ourStatus())))
	f.Add(frame(msgGetHeaders, encodeGetHeaders(getHeaders{Locator: c.Locator()})))
	f.Add(frame(msgGetHeaders, encodeGetHeaders(getHeaders{Locator: []wire.Hash{blocks[2].BlockID()}, Stop: blocks[9].BlockID()})))
	f.Add(frame(msgGetBlocks, encodeGetBlocks([]wire.Hash{blocks[0].BlockID(), {1}, blocks[5].BlockID()})))
	getTxn := func(id wire.Hash, idx ...int) []byte {
		return frame(msgGetBlockTxn, encodeGetBlockTxn(getBlockTxn{ID: id, Indexes: idx}))
	}
	f.Add(getTxn(blocks[0].BlockID(), 0, 1)) // blocks[0] holds 2 transactions
	f.Add(getTxn(blocks[0].BlockID(), 1))
	f.Add(getTxn(blocks[0].BlockID(), 2))    // outside the block
	f.Add(getTxn(blocks[0].BlockID(), 1, 0)) // not ascending
	f.Add(getTxn(blocks[0].BlockID()))       // no index
	f.Add(getTxn(wire.Hash{1}, 0))           // unknown block: notfound
	f.Add(frame(0x7f, []byte{1, 2, 3}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		forgive(n)
		typ, payload, err := readFrame(bytes.NewReader(data), n.maxSyncRequestFrame())
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := n.serveRequest(fuzzPeer, typ, payload, bufio.NewWriter(&out)); err != nil {
			return
		}
		r := bytes.NewReader(out.Bytes())
		for r.Len() > 0 {
			atyp, apayload, err := readFrame(r, n.maxBlockTxnFrame())
			if err != nil {
				t.Fatalf("answer is not framed: %v", err)
			}
			if typ == msgGetBlockTxn && atyp == msgBlockTxn {
				checkBlockTxn(t, c, payload, apayload)
			}
		}
	})
}

// checkBlockTxn fails unless a blocktxn answer holds the transactions a
// getblocktxn request asked for.
func checkBlockTxn(t *testing.T, c *fakeChain, req, ans []byte) {
	g, err := decodeGetBlockTxn(req, wire.MaxBlockTxs(devParams.MaxBlockBytes))
	if err != nil {
		t.Fatalf("answered a getblocktxn that does not decode: %v", err)
	}
	txs, err := decodeBlockTxn(msgBlockTxn, ans, g.ID, len(g.Indexes))
	if err != nil {
		t.Fatalf("blocktxn answer does not decode: %v", err)
	}
	b, err := c.Block(g.ID)
	if err != nil || len(txs) != len(g.Indexes) {
		t.Fatalf("blocktxn answer of %d transactions for %d indexes (%v)", len(txs), len(g.Indexes), err)
	}
	for k, i := range g.Indexes {
		if txs[k].TxID() != b.Txs[i].TxID() {
			t.Fatalf("blocktxn answer: wrong transaction for index %d", i)
		}
	}
}

// FuzzValidateCompactBlock: any bytes on the compact-block topic get a
// verdict without a panic, and Accept only for a block now on the best
// chain. The node has no network: fetching missing transactions or the
// full block fails at once, as with a peer that is gone.
func FuzzValidateCompactBlock(f *testing.F) {
	n, c, pool, g, blocks := fakeNode(f)
	parent := g.Pay(g.GenesisSpends(), 3, 1000)
	outs := testgen.Outputs(parent)
	txs := []*wire.Tx{parent, g.Pay(outs[:1], 1, 1000), g.Pay(outs[1:2], 1, 1000)}
	for _, tx := range txs {
		if _, err := pool.Accept(tx, "fuzz"); err != nil {
			f.Fatal(err)
		}
	}
	notInPool := g.Pay(outs[2:3], 1, 1000)
	compact := func(b *wire.Block, prefill ...int) *wire.CompactBlock {
		return wire.NewCompactBlock(b, b.TxIDs(), 7, prefill...)
	}
	tip := testgen.ParentOf(blocks[len(blocks)-1], uint64(len(blocks)))
	next := g.Block(tip, txs)
	good := compact(next).Encode()
	f.Add(good)                                                          // rebuilt from the pool
	f.Add(compact(next, 1, 2, 3).Encode())                               // every transaction prefilled
	f.Add(compact(g.Block(tip, []*wire.Tx{parent, notInPool})).Encode()) // one to fetch
	f.Add(compact(g.Block(tip, txs, func(b *wire.Block) { b.Header.MerkleRoot[0] ^= 1 })).Encode())
	side := g.Block(testgen.ParentOf(blocks[len(blocks)-2], uint64(len(blocks)-1)), txs[:1], func(b *wire.Block) { b.Header.Time += 3 })
	f.Add(compact(side).Encode())
	unseen := g.Block(tip, txs[:1])
	f.Add(compact(g.Block(testgen.ParentOf(unseen, uint64(len(blocks)+1)), nil)).Encode()) // orphan
	f.Add(compact(blocks[3]).Encode())                                                     // duplicate
	swapped := compact(next)
	swapped.ShortIDs[0], swapped.ShortIDs[1] = swapped.ShortIDs[1], swapped.ShortIDs[0]
	f.Add(swapped.Encode()) // Merkle mismatch
	collide := compact(next)
	collide.ShortIDs[0] = collide.ShortIDs[1]
	f.Add(collide.Encode())
	flipped := append([]byte(nil), good...)
	flipped[40] ^= 1 // in the header
	f.Add(flipped)
	f.Add(good[:len(good)-1])
	f.Add(append(append([]byte(nil), good...), 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		forgive(n)
		r := n.validateCompact(doneCtx, fuzzPeer, &pubsub.Message{Message: &pb.Message{Data: data}})
		checkVerdict(t, r)
		if r == pubsub.ValidationAccept {
			cb, err := wire.DecodeCompactBlock(data, wire.MaxBlockTxs(devParams.MaxBlockBytes))
			if err != nil {
				t.Fatalf("accepted bytes that do not decode: %v", err)
			}
			if info, ok := c.BlockInfo(cb.Header.BlockID()); !ok || !info.OnMain {
				t.Fatal("accepted a compact block whose block is not on the best chain")
			}
		}
	})
}

// FuzzBlockTxnAnswer: any answer to a getblocktxn, applied to a partial
// block, gives an error or the very block announced, never a panic.
func FuzzBlockTxnAnswer(f *testing.F) {
	b, txs := compactFixture(f) // coinbase and 6 payments; we have 3
	want := b.TxIDs()
	cb := wire.NewCompactBlock(b, want, 9)
	id := b.BlockID()
	apply := func(typ byte, payload []byte) (*wire.Block, error) {
		pb, err := newPartialBlock(cb, txList(txs[:3]))
		if err != nil {
			return nil, err
		}
		miss := pb.missing()
		got, err := decodeBlockTxn(typ, payload, id, len(miss))
		if err != nil {
			return nil, err
		}
		if err := pb.fill(miss, got); err != nil {
			return nil, err
		}
		return pb.block()
	}
	answer := func(txs ...*wire.Tx) []byte { return wire.AppendTxs(append([]byte(nil), id[:]...), txs) }
	if _, err := apply(msgBlockTxn, answer(txs[3:]...)); err != nil {
		f.Fatalf("the right answer does not rebuild the block: %v", err)
	}
	f.Add(msgBlockTxn, answer(txs[3:]...))
	f.Add(msgBlockTxn, answer(txs[4], txs[3], txs[5]))            // out of order
	f.Add(msgBlockTxn, answer(txs[3:5]...))                       // one short
	f.Add(msgBlockTxn, answer(txs[2:]...))                        // one too many
	f.Add(msgBlockTxn, answer(txs[0], txs[4], txs[5]))            // a wrong one
	f.Add(msgBlockTxn, append(answer(txs[3:]...), 0))             // trailing byte
	f.Add(msgBlockTxn, wire.AppendTxs(make([]byte, 32), txs[3:])) // another block
	f.Add(msgNotFound, id[:])
	f.Add(msgBlock, b.Encode())
	f.Fuzz(func(t *testing.T, typ byte, payload []byte) {
		got, err := apply(typ, payload)
		if err != nil {
			return
		}
		ids := got.TxIDs()
		if got.Header != b.Header || len(ids) != len(want) {
			t.Fatal("rebuilt another block")
		}
		for i := range ids {
			if ids[i] != want[i] {
				t.Fatalf("rebuilt block has a wrong transaction at %d", i)
			}
		}
	})
}

// FuzzHeadersAnswer: any headers answer is checked without a panic; what
// the syncer keeps is a linked chain of headers with proof of work.
func FuzzHeadersAnswer(f *testing.F) {
	n, _, _, g, blocks := fakeNode(f)
	var hs []wire.Header
	parent := testgen.ParentOf(blocks[len(blocks)-1], uint64(len(blocks)))
	for i := 0; i < 4; i++ {
		b := g.Block(parent, nil)
		hs = append(hs, b.Header)
		parent = testgen.ParentOf(b, parent.Height+1)
	}
	f.Add(encodeHeaders(hs))
	f.Add(encodeHeaders(append([]wire.Header{blocks[18].Header, blocks[19].Header}, hs...)))
	f.Add(encodeHeaders(hs[1:]))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		forgive(n)
		resp, err := decodeHeaders(payload)
		if err != nil || len(resp) == 0 {
			return
		}
		var cur hdrCtx
		have := false
		var res headersResult
		if _, _, err := n.sync.attachHeaders(fuzzPeer, resp, &cur, &have, &res); err != nil {
			return
		}
		for i := 1; i < len(res.hdrs); i++ {
			if res.hdrs[i].header.PrevBlock != res.hdrs[i-1].id {
				t.Fatal("kept headers that do not link")
			}
		}
	})
}

// FuzzBlocksAnswer: any answer to a getblocks is read without a panic,
// and only blocks with the ids asked, at their positions, are kept.
func FuzzBlocksAnswer(f *testing.F) {
	n, _, _, _, blocks := fakeNode(f)
	ids := []wire.Hash{blocks[1].BlockID(), blocks[2].BlockID(), blocks[3].BlockID()}
	var ok []byte
	ok = append(ok, frame(msgBlock, blocks[1].Encode())...)
	ok = append(ok, frame(msgNotFound, ids[1][:])...)
	f.Add(append(append(ok, frame(msgBlock, blocks[3].Encode())...), frame(msgDone, nil)...))
	f.Add(append(frame(msgBlock, blocks[2].Encode()), frame(msgDone, nil)...))
	f.Add(frame(msgDone, nil))
	f.Add([]byte{5, 0, 0, 0, 5, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		forgive(n)
		ans, _ := n.readBlocks(bytes.NewReader(data), fuzzPeer, ids, nil)
		for k, b := range ans.blocks {
			if b != nil && b.BlockID() != ids[k] {
				t.Fatalf("kept block %s at position %d", b.BlockID(), k)
			}
		}
	})
}
