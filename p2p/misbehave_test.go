package p2p

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"math/big"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// attacker is a raw libp2p host speaking our topics and sync protocol
// with no validation of its own.
type attacker struct {
	t      *testing.T
	host   host.Host
	ps     *pubsub.PubSub
	blocks *pubsub.Topic
	txs    *pubsub.Topic
}

func newAttacker(t *testing.T) *attacker {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		h.Close()
	})
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(MessageID), pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{t: t, host: h, ps: ps}
	bt, tt := Topics(devParams.NetworkID)
	if a.blocks, err = ps.Join(bt); err != nil {
		t.Fatal(err)
	}
	if a.txs, err = ps.Join(tt); err != nil {
		t.Fatal(err)
	}
	for _, top := range []*pubsub.Topic{a.blocks, a.txs} {
		sub, err := top.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				if _, err := sub.Next(ctx); err != nil {
					return
				}
			}
		}()
	}
	return a
}

func (a *attacker) id() peer.ID { return a.host.ID() }

// joinGossip connects to n and waits until each sees the other on both
// topics.
func (a *attacker) joinGossip(n *testNode) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.host.Connect(ctx, n.addrInfo()); err != nil {
		a.t.Fatal(err)
	}
	waitFor(a.t, 20*time.Second, "the attacker on the honest node's topics", func() bool {
		return contains(n.ps.ListPeers(n.blocksTopic), a.id()) && contains(n.ps.ListPeers(n.txsTopic), a.id()) &&
			contains(a.ps.ListPeers(n.blocksTopic), n.ID()) && contains(a.ps.ListPeers(n.txsTopic), n.ID())
	})
}

func contains(ps []peer.ID, p peer.ID) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

func (a *attacker) publish(top *pubsub.Topic, data []byte) {
	a.t.Helper()
	if err := top.Publish(context.Background(), data); err != nil {
		a.t.Fatalf("attacker publish: %v", err)
	}
}

// expectBanned checks that n banned the attacker for at least
// MinBanDuration, dropped it, and refuses it when it comes back.
func (a *attacker) expectBanned(n *testNode) {
	a.t.Helper()
	waitFor(a.t, 15*time.Second, "the attacker banned", func() bool { return n.IsBanned(a.id()) })
	waitFor(a.t, 10*time.Second, "the attacker disconnected", func() bool {
		return n.host.Network().Connectedness(a.id()) != network.Connected
	})
	found := false
	for _, b := range n.BanList() {
		if b.ID == a.id().String() {
			found = true
			if time.Until(b.Until) < MinBanDuration-time.Minute {
				a.t.Errorf("ban until %s: shorter than %s", b.Until, MinBanDuration)
			}
			a.t.Logf("banned: %s", b.Reason)
		}
	}
	if !found {
		a.t.Error("attacker not in the ban list")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = a.host.Connect(ctx, n.addrInfo())
	time.Sleep(300 * time.Millisecond)
	if n.host.Network().Connectedness(a.id()) == network.Connected {
		a.t.Error("a banned peer could connect again")
	}
}

// misbehaveNet is two honest nodes sharing a 30-block chain.
func misbehaveNet(t *testing.T) (h1, h2 *testNode, g *testgen.Gen, blocks []*wire.Block) {
	g = testgen.New(devParams)
	blocks = buildChain(g, 30)
	h1 = newTestNode(t).start()
	h1.processAll(blocks)
	h2 = newTestNode(t, withBootstrap(h1.Addrs()...)).start()
	allAt(t, []*testNode{h1, h2}, blocks[len(blocks)-1].BlockID())
	waitMesh(t, []*testNode{h1, h2}, 1)
	return h1, h2, g, blocks
}

func tipParent(n *testNode) testgen.Parent {
	tip := n.chain.Tip()
	return testgen.Parent{ID: tip.ID, Header: tip.Header, Height: tip.Height}
}

// TestMisbehavingPeers: raw hosts send invalid blocks, invalid
// transactions, oversized messages, low-work header spam and garbage on
// the sync stream. Nothing is relayed, each is banned and refused on
// reconnect, and the honest nodes keep working.
func TestMisbehavingPeers(t *testing.T) {
	h1, h2, g, blocks := misbehaveNet(t)

	t.Run("invalid blocks", func(t *testing.T) {
		a := newAttacker(t)
		a.joinGossip(h1)
		parent := tipParent(h1)
		var bad []*wire.Block
		// Proof of work fails (checked before anything else).
		noPoW := g.Block(parent, nil)
		target := consensus.CompactToBig(noPoW.Header.Bits)
		for consensus.HashToBig(noPoW.BlockID()).Cmp(target) <= 0 {
			noPoW.Header.Nonce++
		}
		bad = append(bad, noPoW)
		// Valid PoW, coinbase claims too much.
		for i := 1; i <= 2; i++ {
			extra := uint64(i)
			bad = append(bad, g.Block(parent, nil, func(b *wire.Block) {
				b.Txs[0].Outputs[0].Amount += extra
				b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
			}))
		}
		// Valid PoW over a Merkle root the body does not match.
		bad = append(bad, g.Block(parent, nil, func(b *wire.Block) { b.Header.MerkleRoot[0] ^= 1 }))
		for _, b := range bad {
			a.publish(a.blocks, b.Encode())
		}
		a.expectBanned(h1)
		for _, b := range bad {
			if h2.chain.HasBlock(b.BlockID()) {
				t.Error("an invalid block was relayed")
			}
		}
		if st := h1.Stats(); st.BlocksRejected == 0 {
			t.Errorf("no block rejected: %+v", st)
		}
	})

	t.Run("invalid transactions", func(t *testing.T) {
		a := newAttacker(t)
		a.joinGossip(h1)
		outs := testgen.Outputs(blocks[0].Txs[1])
		var bad []*wire.Tx
		for i := 0; i < 4; i++ {
			tx := g.Pay(outs[i:i+1], 1, 1000)
			tx.Inputs[0].Sig[10] ^= 0x40 // breaks the signature
			bad = append(bad, tx)
		}
		for _, tx := range bad {
			a.publish(a.txs, tx.Encode())
		}
		a.expectBanned(h1)
		for _, tx := range bad {
			if h1.pool.Has(tx.TxID()) || h2.pool.Has(tx.TxID()) {
				t.Error("an invalid transaction entered a pool")
			}
		}
	})

	t.Run("oversized messages", func(t *testing.T) {
		a := newAttacker(t)
		a.joinGossip(h1)
		big := make([]byte, devParams.MaxTxBytes+50000)
		_, _ = rand.Read(big)
		a.publish(a.txs, big)
		huge := make([]byte, devParams.MaxBlockBytes+1000)
		_, _ = rand.Read(huge)
		a.publish(a.blocks, huge)
		a.expectBanned(h1)
		if st := h1.Stats(); st.OversizeDropped == 0 {
			t.Errorf("no oversized message counted: %+v", st)
		}
	})

	t.Run("low-work header spam", func(t *testing.T) {
		a := newAttacker(t)
		// 20 valid headers from genesis: less work than the 30-block
		// chain, announced with enormous work.
		g2 := testgen.New(devParams)
		var spam []wire.Header
		parent := g2.Genesis()
		for i := 0; i < 20; i++ {
			b := g2.Block(parent, nil, func(b *wire.Block) { b.Header.Time++ })
			spam = append(spam, b.Header)
			parent = testgen.ParentOf(b, parent.Height+1)
		}
		a.serveSync(spam)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.host.Connect(ctx, h1.addrInfo()); err != nil {
			t.Fatal(err)
		}
		a.expectBanned(h1)
		if h1.chain.Tip().ID != blocks[len(blocks)-1].BlockID() {
			t.Error("the honest node followed the low-work chain")
		}
	})

	t.Run("headers without proof of work", func(t *testing.T) {
		a := newAttacker(t)
		// Headers on the honest tip, the third without proof of work.
		var hs []wire.Header
		parent := tipParent(h1)
		for i := 0; i < 5; i++ {
			b := g.Block(parent, nil, func(b *wire.Block) { b.Header.Time += 7 })
			if i == 2 {
				target := consensus.CompactToBig(b.Header.Bits)
				for consensus.HashToBig(b.BlockID()).Cmp(target) <= 0 {
					b.Header.Nonce++
				}
			}
			hs = append(hs, b.Header)
			parent = testgen.ParentOf(b, parent.Height+1)
		}
		a.serveSync(hs)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.host.Connect(ctx, h1.addrInfo()); err != nil {
			t.Fatal(err)
		}
		a.expectBanned(h1)
	})

	t.Run("garbage on the sync stream", func(t *testing.T) {
		a := newAttacker(t)
		a.joinGossip(h1)
		junk := make([]byte, 64)
		_, _ = rand.Read(junk)
		binary.LittleEndian.PutUint32(junk, 0xffffffff) // absurd frame length
		a.rawSync(h1, junk)
		a.rawSync(h1, []byte{5, 0, 0, 0, 0x7f, 1, 2, 3, 4}) // unknown message type
		a.expectBanned(h1)
		if st := h1.Stats(); st.GarbageStreams < 2 {
			t.Errorf("garbage streams counted: %d", st.GarbageStreams)
		}
	})

	// The honest nodes never saw any of it and still work.
	if st := h2.Stats(); st.BlocksRejected != 0 || st.TxsRejected != 0 {
		t.Errorf("invalid data was relayed to the second node: %+v", st)
	}
	if h2.Banned() != 0 {
		t.Errorf("second node banned %v", h2.BanList())
	}
	if h1.Count() != 1 {
		t.Errorf("first node has %d peers, want only the honest one", h1.Count())
	}
	id := h1.mine()
	allAt(t, []*testNode{h1, h2}, id)
}

// rawSync opens a sync stream to n and writes b.
func (a *attacker) rawSync(n *testNode, b []byte) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := a.host.NewStream(ctx, n.ID(), SyncProtocol(devParams.NetworkID))
	if err != nil {
		a.t.Fatalf("open sync stream: %v", err)
	}
	_, _ = s.Write(b)
	_ = s.CloseWrite()
	_ = s.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, _ = s.Read(make([]byte, 1)) // the honest node resets the stream
	s.Close()
}

// serveSync answers status with enormous work and getheaders with hs.
func (a *attacker) serveSync(hs []wire.Header) {
	a.host.SetStreamHandler(SyncProtocol(devParams.NetworkID), func(s network.Stream) {
		defer s.Close()
		typ, _, err := readFrame(s, maxRequestFrame)
		if err != nil {
			s.Reset()
			return
		}
		switch typ {
		case msgStatus:
			work := new(big.Int).Lsh(big.NewInt(1), 200)
			_ = writeFrame(s, msgStatus, encodeStatus(status{Genesis: devParams.GenesisID, Height: 1 << 20, Tip: wire.H([]byte("fake")), Work: work}))
		case msgGetHeaders:
			_ = writeFrame(s, msgHeaders, encodeHeaders(hs))
		default:
			s.Reset()
		}
	})
}
