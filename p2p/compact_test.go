package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// txList is a knownTxs over a slice.
type txList []*wire.Tx

func (l txList) ForEachKnownTx(fn func(wire.Hash, *wire.Tx) bool) {
	for _, tx := range l {
		if !fn(tx.TxID(), tx) {
			return
		}
	}
}

// compactFixture is a block of coinbase + 6 payments on the 30-block test
// chain, and the payments.
func compactFixture(t testing.TB) (*wire.Block, []*wire.Tx) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 30)
	outs := testgen.Outputs(blocks[0].Txs[1])
	txs := make([]*wire.Tx, 6)
	for i := range txs {
		txs[i] = g.Pay(outs[i:i+1], 1, 1000)
	}
	return g.Block(testgen.ParentOf(blocks[29], 30), txs), txs
}

func TestPartialBlockRebuild(t *testing.T) {
	b, txs := compactFixture(t)
	cb := wire.NewCompactBlock(b, b.TxIDs(), 99, 3)
	// Everything known (plus an unrelated transaction): rebuilt whole.
	other := testgen.New(devParams).Coinbase(7, 1)
	pb, err := newPartialBlock(cb, txList(append([]*wire.Tx{other}, txs...)))
	if err != nil {
		t.Fatal(err)
	}
	if m := pb.missing(); len(m) != 0 || pb.fromUs != 5 {
		t.Fatalf("missing %v, from us %d", m, pb.fromUs)
	}
	got, err := pb.block()
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("rebuilt block differs: %v", err)
	}
	// The chain takes the rebuild's txids instead of hashing again.
	if !reflect.DeepEqual(pb.txids, b.TxIDs()) {
		t.Fatal("rebuilt txids differ from the block's")
	}

	// Two unknown: they are asked for, and the answer is checked.
	// (Block index i+1 holds txs[i]; index 3, txs[2], is prefilled.)
	pb, _ = newPartialBlock(cb, txList{txs[0], txs[3], txs[5]})
	miss := pb.missing()
	if !reflect.DeepEqual(miss, []int{2, 5}) {
		t.Fatalf("missing %v", miss)
	}
	if err := pb.fill(miss, []*wire.Tx{txs[4], txs[1]}); !errors.Is(err, errBlockTxnMismatch) {
		t.Fatalf("wrong transactions filled: %v", err)
	}
	if err := pb.fill(miss, []*wire.Tx{txs[1]}); !errors.Is(err, errBlockTxnMismatch) {
		t.Fatalf("too few transactions filled: %v", err)
	}
	if err := pb.fill(miss, []*wire.Tx{txs[1], txs[4]}); err != nil {
		t.Fatal(err)
	}
	if got, err := pb.block(); err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("rebuilt block differs: %v", err)
	}
	if !reflect.DeepEqual(pb.txids, b.TxIDs()) {
		t.Fatal("txids after a blocktxn answer differ from the block's")
	}
}

func TestPartialBlockCollisions(t *testing.T) {
	b, txs := compactFixture(t)
	cb := wire.NewCompactBlock(b, b.TxIDs(), 5)

	// Two short ids of the block equal: cannot rebuild.
	dup := *cb
	dup.ShortIDs = append([]wire.ShortID(nil), cb.ShortIDs...)
	dup.ShortIDs[3] = dup.ShortIDs[1]
	if _, err := newPartialBlock(&dup, txList(txs)); !errors.Is(err, errShortIDCollision) {
		t.Fatalf("duplicate short ids: %v", err)
	}

	// Two of our transactions share the short id of block tx 2: that slot
	// is asked for instead of guessed. (The walk stops once every slot is
	// filled, as Bitcoin Core's does, so the impostor comes first here;
	// one met later is caught by the Merkle root, below.)
	impostor := testgen.New(devParams).Coinbase(9, 1)
	key := cb.Key()
	sid := func(id wire.Hash) wire.ShortID {
		if id == impostor.TxID() {
			return key.ShortID(txs[1].TxID())
		}
		return key.ShortID(id)
	}
	pb, err := newPartialBlockWith(cb, txList(append([]*wire.Tx{impostor}, txs...)), sid)
	if err != nil {
		t.Fatal(err)
	}
	if m := pb.missing(); !reflect.DeepEqual(m, []int{2}) {
		t.Fatalf("missing %v, want [2]", m)
	}

	// Only the impostor known: it is taken, and the Merkle root (checked
	// by the chain, TestCompactFallbackToFullBlock) catches it.
	pb, _ = newPartialBlockWith(cb, txList{txs[0], impostor, txs[2], txs[3], txs[4], txs[5]}, sid)
	if len(pb.missing()) != 0 {
		t.Fatal("impostor not taken")
	}
	got, err := pb.block()
	if err != nil {
		t.Fatal(err)
	}
	if err := consensus.CheckBodyCommitment(got, got.TxIDs(), devParams); !errors.Is(err, consensus.ErrBadMerkleRoot) {
		t.Fatalf("Merkle mismatch not seen: %v", err)
	}
	// The txids the chain is handed are the impostor's own: it sees the
	// mismatch from them as well.
	if err := consensus.CheckBodyCommitment(got, pb.txids, devParams); !errors.Is(err, consensus.ErrBadMerkleRoot) {
		t.Fatalf("Merkle mismatch not seen from the rebuild's txids: %v", err)
	}
	if !compactMatches(cb, b) {
		t.Fatal("a faithful announcement does not match its block")
	}
	if compactMatches(&dup, b) {
		t.Fatal("a wrong announcement matches the block")
	}
}

func TestGetBlockTxnEncoding(t *testing.T) {
	g := getBlockTxn{ID: wire.H([]byte("x")), Indexes: []int{1, 2, 300, 70000}}
	enc := encodeGetBlockTxn(g)
	got, err := decodeGetBlockTxn(enc, 100000)
	if err != nil || !reflect.DeepEqual(got, g) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	id := g.ID[:]
	for name, b := range map[string][]byte{
		"short":         id[:31],
		"no index":      append(append([]byte{}, id...), 0),
		"not ascending": encodeGetBlockTxn(getBlockTxn{ID: g.ID, Indexes: []int{3, 3}}),
		"above max":     encodeGetBlockTxn(getBlockTxn{ID: g.ID, Indexes: []int{100000}}),
		"trailing":      append(enc, 0),
		"truncated":     enc[:len(enc)-1],
	} {
		if _, err := decodeGetBlockTxn(b, 100000); !errors.Is(err, errGarbage) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// compactPair is two connected nodes at the tip of the 30-block chain,
// with the status loop slowed so that blocks move only by gossip.
func compactPair(t *testing.T) (a, b *testNode, g *testgen.Gen, outs []testgen.Spend) {
	g = testgen.New(devParams)
	blocks := buildChain(g, 30)
	slow := func(c *Config) { c.StatusInterval = time.Hour }
	a = newTestNode(t, slow).start()
	a.processAll(blocks)
	b = newTestNode(t, slow, withBootstrap(a.Addrs()...))
	b.processAll(blocks) // before it runs: no sync race
	b.start()
	waitFor(t, 20*time.Second, "both nodes on the compact topic", func() bool {
		return contains(a.ps.ListPeers(a.cmpct.topicName), b.ID()) && contains(b.ps.ListPeers(b.cmpct.topicName), a.ID())
	})
	waitFor(t, 10*time.Second, "status exchanged", func() bool {
		return len(b.peerSnapshot()) == 1 && b.peerSnapshot()[0].speaks
	})
	return a, b, g, testgen.Outputs(blocks[0].Txs[1])
}

// mineFrom builds a block on n's tip from its pool, connects it on n and
// publishes it.
func mineFrom(t *testing.T, n *testNode, g *testgen.Gen) *wire.Block {
	blk := n.pool.NewTemplate(g.PKH, time.Now(), uint64(time.Now().UnixNano())).Block()
	testgen.Solve(&blk.Header, devParams)
	if _, err := n.chain.ProcessBlock(blk); err != nil {
		t.Fatal(err)
	}
	if err := n.PublishBlock(blk); err != nil {
		t.Fatal(err)
	}
	return blk
}

// TestCompactRelay: a block whose transactions were gossiped first is
// rebuilt from the pool with no fetch; one with transactions the receiver
// never saw has them fetched with getblocktxn. Neither sends the full
// block.
func TestCompactRelay(t *testing.T) {
	a, b, g, outs := compactPair(t)

	t.Run("rebuild from the pool", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			a.submitTx(g.Pay(outs[i:i+1], 1, 1000))
		}
		waitFor(t, 10*time.Second, "the transactions in b's pool", func() bool { return b.pool.Stats().Count == 10 })
		blk := mineFrom(t, a, g)
		waitFor(t, 10*time.Second, "b at the block", func() bool { return b.chain.Tip().ID == blk.BlockID() })
		st := b.CompactStats()
		if st.Rebuilt != 1 || st.TxsFromPool != 10 || st.Fetches != 0 || st.FullFallbacks != 0 {
			t.Fatalf("compact stats %+v", st)
		}
		if s := b.Stats(); s.BlocksAccepted != 0 {
			t.Fatalf("the full block was relayed too: %+v", s)
		}
	})

	t.Run("missing transactions fetched", func(t *testing.T) {
		for i := 10; i < 20; i++ {
			tx := g.Pay(outs[i:i+1], 1, 1000)
			if i < 14 {
				if _, err := a.pool.Accept(tx, ""); err != nil { // not announced
					t.Fatal(err)
				}
				// a believes its peers have it (as when they evicted
				// it), so it is not prefilled: b must ask for it.
				a.cmpct.gossiped.add(tx.TxID())
			} else {
				a.submitTx(tx)
			}
		}
		waitFor(t, 10*time.Second, "the announced transactions in b's pool", func() bool { return b.pool.Stats().Count == 6 })
		before := b.CompactStats()
		blk := mineFrom(t, a, g)
		waitFor(t, 10*time.Second, "b at the block", func() bool { return b.chain.Tip().ID == blk.BlockID() })
		st := b.CompactStats()
		if st.Rebuilt-before.Rebuilt != 1 || st.TxsFetched != 4 || st.Fetches != 1 || st.TxsFromPool-before.TxsFromPool != 6 || st.FullFallbacks != 0 {
			t.Fatalf("compact stats %+v", st)
		}
		if s := a.CompactStats(); s.Served != 1 || s.ServedTxs != 4 {
			t.Fatalf("server stats %+v", s)
		}
	})

	t.Run("transactions never gossiped are prefilled", func(t *testing.T) {
		for i := 20; i < 30; i++ {
			tx := g.Pay(outs[i:i+1], 1, 1000)
			if i < 23 {
				if _, err := a.pool.Accept(tx, ""); err != nil { // not announced
					t.Fatal(err)
				}
			} else {
				a.submitTx(tx)
			}
		}
		waitFor(t, 10*time.Second, "the announced transactions in b's pool", func() bool { return b.pool.Stats().Count == 7 })
		before, served := b.CompactStats(), a.CompactStats().Served
		blk := mineFrom(t, a, g)
		waitFor(t, 10*time.Second, "b at the block", func() bool { return b.chain.Tip().ID == blk.BlockID() })
		st := b.CompactStats()
		if st.Rebuilt-before.Rebuilt != 1 || st.Fetches != before.Fetches || st.TxsFromPool-before.TxsFromPool != 7 || st.FullFallbacks != 0 {
			t.Fatalf("compact stats %+v", st)
		}
		if a.CompactStats().Served != served {
			t.Fatal("a served a getblocktxn for transactions it prefilled")
		}
	})
}

// TestGossipedTxsPrefill: the transactions a node announces in full are
// those that did not go over the topic, within the byte limit; the set
// forgets its oldest ids past maxGossipedTxs.
func TestGossipedTxsPrefill(t *testing.T) {
	b, txs := compactFixture(t)
	ids := b.TxIDs()
	var g gossipedTxs
	g.add(ids[1])
	g.add(ids[3])
	if got := g.prefill(b, ids, 1<<20); !reflect.DeepEqual(got, []int{2, 4, 5, 6}) {
		t.Fatalf("prefill %v, want [2 4 5 6]", got)
	}
	if got := g.prefill(b, ids, 2*txs[1].SerializeSize()); !reflect.DeepEqual(got, []int{2, 4}) {
		t.Fatalf("prefill within two transactions' bytes: %v", got)
	}
	for i := 0; i < maxGossipedTxs; i++ {
		var id wire.Hash
		binary.LittleEndian.PutUint64(id[:8], uint64(i)+1)
		g.add(id)
	}
	if n := g.ids.Len(); n != maxGossipedTxs {
		t.Fatalf("set holds %d ids, want %d", n, maxGossipedTxs)
	}
	if got := g.prefill(b, ids, 1<<20); len(got) != 6 {
		t.Fatalf("the oldest ids were not forgotten: prefill %v", got)
	}
}

// compactAttacker is an attacker on the compact topic too.
func compactAttacker(t *testing.T, n *testNode) (*attacker, *pubsub.Topic) {
	a := newAttacker(t)
	top, err := a.ps.Join(CompactTopic(devParams.NetworkID))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := top.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	a.joinGossip(n)
	waitFor(t, 20*time.Second, "the attacker on the compact topic", func() bool {
		return contains(n.ps.ListPeers(n.cmpct.topicName), a.id()) && contains(top.ListPeers(), n.ID())
	})
	return a, top
}

// TestCompactFallbackToFullBlock: announcements that cannot be rebuilt (two
// short ids equal, short ids out of order, a short id matching another of
// our transactions) make the receiver fetch the full block from a peer
// that has it. Nobody is penalized, and the block arrives.
func TestCompactFallbackToFullBlock(t *testing.T) {
	a, b, g, outs := compactPair(t)
	att, top := compactAttacker(t, b)
	next := 0
	for _, c := range []struct {
		name   string
		mangle func(cb *wire.CompactBlock, decoy *wire.Tx)
		stat   func(CompactStats) uint64
	}{
		{"short-id collision", func(cb *wire.CompactBlock, _ *wire.Tx) { cb.ShortIDs[2] = cb.ShortIDs[0] },
			func(s CompactStats) uint64 { return s.Collisions }},
		{"Merkle mismatch", func(cb *wire.CompactBlock, _ *wire.Tx) {
			cb.ShortIDs[0], cb.ShortIDs[1] = cb.ShortIDs[1], cb.ShortIDs[0]
		}, func(s CompactStats) uint64 { return s.Mismatches }},
		{"collision with our transaction", func(cb *wire.CompactBlock, decoy *wire.Tx) {
			cb.ShortIDs[1] = cb.Key().ShortID(decoy.TxID())
		}, func(s CompactStats) uint64 { return s.Mismatches }},
	} {
		t.Run(c.name, func(t *testing.T) {
			txs := make([]*wire.Tx, 3)
			for i := range txs {
				txs[i] = g.Pay(outs[next:next+1], 1, 1000)
				next++
			}
			decoy := g.Pay(outs[next:next+1], 1, 1000)
			next++
			for _, tx := range append(txs, decoy) {
				a.submitTx(tx)
			}
			waitFor(t, 10*time.Second, "the transactions in b's pool", func() bool {
				for _, tx := range append(txs, decoy) {
					if !b.pool.Has(tx.TxID()) {
						return false
					}
				}
				return true
			})
			blk := g.Block(tipParent(a), txs)
			if _, err := a.chain.ProcessBlock(blk); err != nil { // a has it, announces nothing
				t.Fatal(err)
			}
			before := b.CompactStats()
			cb := wire.NewCompactBlock(blk, blk.TxIDs(), 77)
			c.mangle(cb, decoy)
			att.publish(top, cb.Encode())
			waitFor(t, 15*time.Second, "b at the block", func() bool { return b.chain.Tip().ID == blk.BlockID() })
			st := b.CompactStats()
			if c.stat(st)-c.stat(before) != 1 || st.FullFallbacks-before.FullFallbacks != 1 || st.Rebuilt != before.Rebuilt {
				t.Fatalf("compact stats %+v", st)
			}
			if s := b.bans.score(att.id()); s != 0 {
				t.Fatalf("the announcer was penalized: %v points", s)
			}
		})
	}
}

// TestCompactAnnouncerNeverServes: a peer announces a block and never
// answers getblocktxn. The receiver waits blockTxnTimeout, then fetches
// the full block from another peer.
func TestCompactAnnouncerNeverServes(t *testing.T) {
	a, b, g, outs := compactPair(t)
	att, top := compactAttacker(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	att.host.SetStreamHandler(SyncProtocol(devParams.NetworkID), func(s network.Stream) {
		<-ctx.Done() // read nothing, answer nothing
		s.Reset()
	})
	txs := []*wire.Tx{g.Pay(outs[0:1], 1, 1000), g.Pay(outs[1:2], 1, 1000)}
	blk := g.Block(tipParent(a), txs) // b has never seen txs
	if _, err := a.chain.ProcessBlock(blk); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	att.publish(top, wire.NewCompactBlock(blk, blk.TxIDs(), 1).Encode())
	waitFor(t, blockTxnTimeout+fullBlockWait, "b at the block", func() bool { return b.chain.Tip().ID == blk.BlockID() })
	el := time.Since(start)
	st := b.CompactStats()
	if st.FetchFailures != 1 || st.FullFallbacks != 1 {
		t.Fatalf("compact stats %+v", st)
	}
	// At least the getblocktxn timeout (the silent peer was asked first),
	// at most that plus the bounded full-block fallback.
	if el < blockTxnTimeout || el > blockTxnTimeout+fullBlockWait {
		t.Fatalf("the block arrived after %s; want between %s and %s", el, blockTxnTimeout, blockTxnTimeout+fullBlockWait)
	}
	t.Logf("block arrived after %s", el.Round(time.Millisecond))
}

// TestCompactInvalidNotRelayed: attacker -> b -> c. A compact block for a
// block with valid proof of work that breaks a rule is validated by b,
// rejected (the attacker penalized) and not forwarded to c, while a valid
// one after it is.
func TestCompactInvalidNotRelayed(t *testing.T) {
	g := testgen.New(devParams)
	blocks := buildChain(g, 30)
	slow := func(c *Config) { c.StatusInterval = time.Hour }
	b := newTestNode(t, slow).start()
	b.processAll(blocks)
	c := newTestNode(t, slow, withBootstrap(b.Addrs()...))
	c.processAll(blocks) // before it runs: no sync race
	c.start()
	waitFor(t, 20*time.Second, "c on the compact topic", func() bool {
		return contains(b.ps.ListPeers(b.cmpct.topicName), c.ID())
	})
	att, top := compactAttacker(t, b)
	parent := tipParent(b)
	bad := g.Block(parent, nil, func(blk *wire.Block) {
		blk.Txs[0].Outputs[0].Amount++ // coinbase claims too much
		blk.Header.MerkleRoot = wire.MerkleRoot(blk.TxIDs())
	})
	good := g.Block(parent, nil)
	att.publish(top, wire.NewCompactBlock(bad, bad.TxIDs(), 1).Encode())
	waitFor(t, 10*time.Second, "b to judge the bad block", func() bool {
		info, ok := b.chain.BlockInfo(bad.BlockID())
		return ok && info.Invalid
	})
	if b.cmpct.verdicts.rejected.Load() != 1 || b.bans.score(att.id()) == 0 {
		t.Fatalf("b did not reject the invalid block's sender: rejected %d, score %v", b.cmpct.verdicts.rejected.Load(), b.bans.score(att.id()))
	}
	att.publish(top, wire.NewCompactBlock(good, good.TxIDs(), 2).Encode())
	waitFor(t, 10*time.Second, "c at the good block", func() bool { return c.chain.Tip().ID == good.BlockID() })
	if c.chain.HasBlock(bad.BlockID()) || c.cmpct.verdicts.rejected.Load() != 0 || c.cmpct.verdicts.ignored.Load() != 0 {
		t.Fatalf("the invalid block reached c: rejected %d ignored %d", c.cmpct.verdicts.rejected.Load(), c.cmpct.verdicts.ignored.Load())
	}
	if c.CompactStats().Rebuilt != 1 {
		t.Fatalf("c stats %+v", c.CompactStats())
	}
}

// TestCompactHostileInput: a malformed compact block and an oversized one
// on the topic, and getblocktxn requests that break the protocol (an index
// outside the block, indexes not ascending), each cost the sender points;
// a valid getblocktxn for a block we lack is answered notfound, free.
func TestCompactHostileInput(t *testing.T) {
	_, b, _, _ := compactPair(t)
	tip := b.chain.Tip().ID
	cases := []struct {
		name string
		send func(att *attacker, top *pubsub.Topic)
	}{
		{"malformed compact block", func(att *attacker, top *pubsub.Topic) {
			att.publish(top, []byte("not a compact block"))
		}},
		{"oversized compact block", func(att *attacker, top *pubsub.Topic) {
			att.publish(top, make([]byte, devParams.MaxBlockBytes+1))
		}},
		{"getblocktxn index outside the block", func(att *attacker, _ *pubsub.Topic) {
			att.rawSync(b, frame(msgGetBlockTxn, encodeGetBlockTxn(getBlockTxn{ID: tip, Indexes: []int{0, 5}})))
		}},
		{"getblocktxn indexes not ascending", func(att *attacker, _ *pubsub.Topic) {
			att.rawSync(b, frame(msgGetBlockTxn, append(append([]byte{}, tip[:]...), 2, 0, 0)))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			att, top := compactAttacker(t, b)
			c.send(att, top)
			waitFor(t, 10*time.Second, "the sender penalized", func() bool { return b.bans.score(att.id()) > 0 || b.IsBanned(att.id()) })
		})
	}
	if b.chain.Tip().ID != tip {
		t.Fatal("hostile input moved the tip")
	}
}

// TestGetBlockTxnNotFound: a getblocktxn for a block the server lacks is
// answered notfound; the client gives up at once, no one is penalized.
func TestGetBlockTxnNotFound(t *testing.T) {
	a, b, _, _ := compactPair(t)
	start := time.Now()
	_, err := b.requestBlockTxn(context.Background(), a.ID(), wire.H([]byte("no such block")), []int{1})
	if err == nil || errors.Is(err, errGarbage) {
		t.Fatalf("err = %v, want a plain not-found error", err)
	}
	if el := time.Since(start); el > blockTxnTimeout {
		t.Fatalf("not found took %s", el)
	}
	if a.bans.score(b.ID()) != 0 || b.bans.score(a.ID()) != 0 {
		t.Fatal("someone was penalized for an honest notfound")
	}
}
