package p2p

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/chain"
	"tally/consensus"
	"tally/mempool"
	"tally/wire"
)

func TestJudge(t *testing.T) {
	rule := func(k consensus.ErrorKind) error {
		return &consensus.RuleError{Kind: k, Description: string(k)}
	}
	pool := func(k mempool.ErrorKind, r error) error {
		return &mempool.RejectError{Kind: k, Rule: r, Msg: string(k)}
	}
	accept, reject, ignore := pubsub.ValidationAccept, pubsub.ValidationReject, pubsub.ValidationIgnore
	for _, c := range []struct {
		name     string
		err      error
		want     pubsub.ValidationResult
		orphan   bool
		ourFault bool
	}{
		{"nil", nil, accept, false, false},
		{"duplicate block", chain.ErrDuplicate, ignore, false, false},
		{"orphan", chain.ErrOrphan, ignore, true, false},
		{"future block", rule(consensus.ErrTimeTooNew), ignore, false, false},
		{"syncing", consensus.ErrNotSynced, ignore, false, false},
		{"bad pow", rule(consensus.ErrBadPoW), reject, false, false},
		{"bad merkle root", rule(consensus.ErrBadMerkleRoot), reject, false, false},
		{"known invalid", rule(chain.ErrKnownInvalid), reject, false, false},
		{"wrapped rule", fmt.Errorf("tx x input 0: %w", rule(consensus.ErrBadSignature)), reject, false, false},
		{"malformed", malformed(fmt.Errorf("%w: trailing bytes", wire.ErrDecode)), reject, false, false},
		{"oversize", oversize(consensus.ErrBlockTooBig, 2<<20, 1<<20), reject, false, false},
		{"tx bad sig", pool(mempool.ErrBadSig, rule(consensus.ErrBadSignature)), reject, false, false},
		{"tx missing inputs", pool(mempool.ErrMissingInputs, rule(consensus.ErrMissingInput)), ignore, false, false},
		{"tx immature", pool(mempool.ErrImmature, rule(consensus.ErrImmatureSpend)), ignore, false, false},
		{"tx non-final", pool(mempool.ErrNonFinal, rule(consensus.ErrNonFinal)), ignore, false, false},
		{"tx low fee", pool(mempool.ErrLowFee, nil), ignore, false, false},
		{"tx known", pool(mempool.ErrAlreadyKnown, nil), ignore, false, false},
		{"tx conflict", pool(mempool.ErrConflict, nil), ignore, false, false},
		{"tx pool full", pool(mempool.ErrPoolFull, nil), ignore, false, false},
		{"loose coinbase", pool(mempool.ErrCoinbase, nil), reject, false, false},
		{"tx overspends", pool(mempool.ErrInvalid, rule(consensus.ErrSpendTooMuch)), reject, false, false},
		{"storage", errors.New("leveldb: closed"), ignore, false, true},
		{"broken chain", fmt.Errorf("%w: disk", chain.ErrBroken), ignore, false, true},
	} {
		v := judge(c.err)
		if v.Result != c.want || v.Orphan != c.orphan || v.OurFault != c.ourFault {
			t.Errorf("%s: %+v, want result %v orphan %v ourFault %v", c.name, v, c.want, c.orphan, c.ourFault)
		}
	}
}

func TestBanList(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := newBanList(time.Hour, func() time.Time { return now })
	p := peer.ID("peer-a")
	if b.add(p, 60, "x") || b.banned(p) {
		t.Fatal("banned below the threshold")
	}
	// Points halve every pointsHalfLife.
	now = now.Add(pointsHalfLife)
	if s := b.score(p); s < 29.9 || s > 30.1 {
		t.Fatalf("score after a half-life %f, want 30", s)
	}
	if b.add(p, 60, "x") {
		t.Fatal("decayed points still banned")
	}
	if !b.add(p, 20, "last straw") || !b.banned(p) {
		t.Fatal("not banned at the threshold")
	}
	if l := b.list(); len(l) != 1 || l[0].Reason != "last straw" || !l[0].Until.Equal(now.Add(time.Hour)) {
		t.Fatalf("ban list %+v", l)
	}
	now = now.Add(time.Hour)
	if b.banned(p) {
		t.Fatal("ban outlived its duration")
	}
	g := &gater{bans: b}
	if !g.InterceptPeerDial(p) || !g.InterceptSecured(0, p, nil) {
		t.Fatal("gater refuses an unbanned peer")
	}
	b.ban(p, "now")
	if g.InterceptPeerDial(p) || g.InterceptSecured(0, p, nil) {
		t.Fatal("gater lets a banned peer through")
	}
}

func TestFloodGuard(t *testing.T) {
	var f floodGuard
	p := peer.ID("p")
	now := time.Unix(100, 0)
	if !f.allow(p, floodMsgBurst, 1000, now) {
		t.Fatal("burst refused")
	}
	if f.allow(p, 1, 10, now) {
		t.Fatal("over the burst allowed")
	}
	if !f.allow(p, floodMsgRate/2, 10, now.Add(time.Second)) {
		t.Fatal("refill refused")
	}
}

// TestKeyAndPeerStore: the identity survives a restart (p2p.key, mode
// 0600), peers.json remembers peers and bans, and a restarted node dials
// its remembered peers with no bootstrap.
func TestKeyAndPeerStore(t *testing.T) {
	a := newTestNode(t).start()
	dir := t.TempDir()
	bOpts := func(c *Config) { c.DataDir = dir }
	b := newTestNode(t, bOpts, withBootstrap(a.Addrs()...)).start()
	id := b.ID()
	waitFor(t, 10*time.Second, "b connected", func() bool { return b.Count() == 1 })
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v", err, fi.Mode())
	}
	k, _ := ephemeralKey()
	banned, _ := peer.IDFromPrivateKey(k)
	b.bans.ban(banned, "test")
	b.stop()
	f, err := loadPeersFile(filepath.Join(dir, PeersFile))
	if err != nil || len(f.Tried) != 1 || f.Tried[0].ID != a.ID().String() || len(f.Bans) != 1 {
		t.Fatalf("peers.json: %+v %v", f, err)
	}
	// Restart without bootstrap: same id, dials a from peers.json, keeps
	// the ban.
	b2 := newTestNode(t, bOpts).start()
	if b2.ID() != id {
		t.Fatalf("identity changed: %s -> %s", id, b2.ID())
	}
	if !b2.IsBanned(banned) {
		t.Error("ban forgotten across the restart")
	}
	waitFor(t, 10*time.Second, "b reconnected from its peer store", func() bool { return b2.Count() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b2.AddNode(ctx, "/ip4/127.0.0.1/tcp/1"); err == nil {
		t.Error("addnode without /p2p/ accepted")
	}
	for _, s := range b2.Addrs() {
		if _, err := parseP2PAddr(s); err != nil {
			t.Errorf("Addrs() entry %q: %v", s, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	c := Config{}
	if err := c.setDefaults(); err == nil {
		t.Error("missing chain accepted")
	}
	n := newTestNode(t)
	cfg := n.cfg
	cfg.BanDuration = time.Minute
	if err := cfg.setDefaults(); err == nil {
		t.Error("a one-minute ban accepted")
	}
	cfg = n.cfg
	cfg.Listen = []string{"127.0.0.1:8646"}
	if err := cfg.setDefaults(); err == nil {
		t.Error("a host:port listen address accepted")
	}
	cfg = n.cfg
	cfg.Bootstrap = []string{"/ip4/127.0.0.1/tcp/1"}
	if _, err := New(cfg); err == nil {
		t.Error("a bootstrap address without /p2p/ accepted")
	}
}

// TestRelayLaterBounds: the transactions and block ids kept for relay
// later stay within their bounds, the oldest going first.
func TestRelayLaterBounds(t *testing.T) {
	r := newRelayer(nil)
	var first wire.Hash
	for i := 0; i <= maxLaterTxs; i++ {
		tx := &wire.Tx{Inputs: []wire.TxIn{{Prev: wire.OutPoint{TxID: wire.H([]byte(fmt.Sprint("parent ", i)))}}}}
		if i == 0 {
			first = tx.TxID()
		}
		r.orphanTx(tx, tx.TxID())
	}
	if _, kept := r.txs[first]; kept || len(r.txs) != maxLaterTxs || len(r.byParent) != maxLaterTxs {
		t.Fatalf("%d transactions kept (%d parents), oldest kept %v", len(r.txs), len(r.byParent), kept)
	}
	for i := 0; i <= maxLaterBlocks; i++ {
		r.laterBlock(wire.H([]byte(fmt.Sprint("block ", i))))
	}
	if _, kept := r.blocks[wire.H([]byte("block 0"))]; kept || len(r.blocks) != maxLaterBlocks {
		t.Fatalf("%d block ids kept, oldest kept %v", len(r.blocks), kept)
	}
}
