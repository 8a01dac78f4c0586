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
	f.Add(frame(0x7f, []byte{1, 2, 3}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		forgive(n)
		typ, payload, err := readFrame(bytes.NewReader(data), maxRequestFrame)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := n.serveRequest(fuzzPeer, typ, payload, bufio.NewWriter(&out)); err != nil {
			return
		}
		r := bytes.NewReader(out.Bytes())
		for r.Len() > 0 {
			if _, _, err := readFrame(r, 1+devParams.MaxBlockBytes); err != nil {
				t.Fatalf("answer is not framed: %v", err)
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
