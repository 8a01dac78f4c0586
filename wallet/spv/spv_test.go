package spv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// Every test here runs on testParams (ASERT on) unless it says otherwise.

// honestChain returns 20 blocks after the genesis block, some fast (their
// successors carry harder bits), with a block of 7 transactions at
// height 5.
func honestChain(t *testing.T, b *builder) []*wire.Block {
	blocks := b.extend(b.genesisChain(), 4, 600)
	blocks = b.withTxs(blocks, 6, 30)
	blocks = b.extend(blocks, 5, 20)
	return b.extend(blocks, 10, 900)
}

func TestSyncAndVerify(t *testing.T) {
	p := testParams(t)
	b := newBuilder(t, p)
	blocks := honestChain(t, b)
	varied := false
	for _, blk := range blocks {
		varied = varied || blk.Header.Bits != p.GenesisBits
	}
	if !varied {
		t.Fatal("test chain never changes difficulty; the ASERT check would be untested")
	}
	src := &fakeSource{name: "honest", blocks: blocks}
	c := newTestClient(p, src)
	res, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Accepted != 20 || res[0].Switched {
		t.Fatalf("result %+v", res[0])
	}
	tip := c.Store().Tip()
	if tip.Height != 20 || tip.ID != blocks[20].BlockID() || tip.Work.String() != chainWork(blocks) {
		t.Fatalf("tip %d %s work %s, want 20 %s %s", tip.Height, tip.ID, tip.Work, blocks[20].BlockID(), chainWork(blocks))
	}
	txid := blocks[5].Txs[3].TxID()
	conf, err := c.VerifyTx(context.Background(), txid)
	if err != nil {
		t.Fatal(err)
	}
	if conf.Height != 5 || conf.Confirmations != 16 || conf.BlockID != blocks[5].BlockID() {
		t.Fatalf("confirmation %+v", conf)
	}

	// A second sync from the same source has nothing new.
	res, err = c.Sync(context.Background())
	if err != nil || res[0].Err != nil || res[0].Accepted != 0 || res[0].Fork != 20 {
		t.Fatalf("resync: %+v, %v", res, err)
	}
	// And a longer chain is appended.
	src.blocks = b.extend(blocks, 3, 600)
	if res, err = c.Sync(context.Background()); err != nil || res[0].Accepted != 3 {
		t.Fatalf("extension: %+v, %v", res, err)
	}
	if conf, err = c.VerifyTx(context.Background(), txid); err != nil || conf.Confirmations != 19 {
		t.Fatalf("after extension: %+v, %v", conf, err)
	}
}

func TestRefuseTamperedProofs(t *testing.T) {
	p := testParams(t)
	b := newBuilder(t, p)
	blocks := honestChain(t, b)
	txid := blocks[5].Txs[3].TxID()
	other := blocks[6].Txs[0].TxID()
	cases := []struct {
		name   string
		txid   wire.Hash
		tamper func(*Proof)
		want   ErrorKind
	}{
		{"sibling changed", txid, func(pr *Proof) { pr.Merkle.Path[1][7] ^= 1 }, ErrBadProof},
		{"last sibling changed", txid, func(pr *Proof) { pr.Merkle.Path[len(pr.Merkle.Path)-1][0] ^= 0x80 }, ErrBadProof},
		{"sibling dropped", txid, func(pr *Proof) { pr.Merkle.Path = pr.Merkle.Path[:len(pr.Merkle.Path)-1] }, ErrBadProof},
		{"index changed", txid, func(pr *Proof) { pr.Merkle.Index ^= 1 }, ErrBadProof},
		// A genuine proof of another transaction of block 5, served for
		// our txid: the path is right for its own leaf, not for ours.
		{"proof of another tx", txid, func(pr *Proof) {
			ids := blocks[5].TxIDs()
			mp, _ := wire.BuildMerkleProof(ids, 1)
			pr.Merkle = mp
		}, ErrBadProof},
		// A tx of block 6 with a proof claiming it is in block 5.
		{"tx not in the block", other, func(pr *Proof) {
			ids := blocks[5].TxIDs()
			mp, _ := wire.BuildMerkleProof(ids, 0)
			pr.Height, pr.Header, pr.BlockID, pr.Merkle = 5, blocks[5].Header, blocks[5].BlockID(), mp
		}, ErrBadProof},
		{"blockhash not the header's", txid, func(pr *Proof) { pr.BlockID = blocks[4].BlockID() }, ErrBadProof},
		{"header of another height", txid, func(pr *Proof) { pr.Height = 4 }, ErrNotOnBestChain},
		{"above our tip", txid, func(pr *Proof) { pr.Height = 21 }, ErrNotOnBestChain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{name: "liar", blocks: blocks, tamper: tc.tamper}
			c := newTestClient(p, src)
			if _, err := c.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, err := c.VerifyTx(context.Background(), tc.txid)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if errors.Is(tc.want, ErrBadProof) && tc.name != "blockhash not the header's" && !errors.Is(err, wire.ErrMerkleProof) {
				t.Fatalf("%v does not wrap wire.ErrMerkleProof", err)
			}
		})
	}
}

// An honest second source makes up for a lying first one.
func TestVerifyTriesNextSource(t *testing.T) {
	p := testParams(t)
	blocks := honestChain(t, newBuilder(t, p))
	liar := &fakeSource{name: "liar", blocks: blocks, tamper: func(pr *Proof) { pr.Merkle.Path[0][0] ^= 1 }}
	honest := &fakeSource{name: "honest", blocks: blocks}
	c := newTestClient(p, liar, honest)
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	conf, err := c.VerifyTx(context.Background(), blocks[5].Txs[2].TxID())
	if err != nil || conf.Height != 5 {
		t.Fatalf("%+v, %v", conf, err)
	}
}

// Fork diagram (heights):
//
//	genesis - 1 - 2 - 3 -+- 4h ... 9h          heavy: 6 fast blocks, harder bits
//	                     +- 4l ... 15l (tx)    light: 12 slow blocks, more headers
func forkedChains(t *testing.T, b *builder) (heavy, light []*wire.Block) {
	common := b.extend(b.genesisChain(), 3, 600)
	heavy = b.extend(common, 6, 10)
	light = b.withTxs(b.extend(common, 6, 1200), 3, 1200)
	light = b.extend(light, 5, 1200)
	return heavy, light
}

func TestMostWorkWinsNotMostHeaders(t *testing.T) {
	p := testParams(t)
	heavy, light := forkedChains(t, newBuilder(t, p))
	if len(light) <= len(heavy) || sumWork(headersOf(light)).Cmp(sumWork(headersOf(heavy))) >= 0 {
		t.Fatalf("test chains: light %d headers work %s, heavy %d headers work %s", len(light), chainWork(light), len(heavy), chainWork(heavy))
	}
	for _, order := range []string{"light first", "heavy first"} {
		t.Run(order, func(t *testing.T) {
			hs := &fakeSource{name: "heavy", blocks: heavy}
			ls := &fakeSource{name: "light", blocks: light}
			srcs := []HeaderSource{ls, hs}
			if order == "heavy first" {
				srcs = []HeaderSource{hs, ls}
			}
			c := newTestClient(p, srcs...)
			res, err := c.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tip := c.Store().Tip()
			if tip.ID != heavy[len(heavy)-1].BlockID() || tip.Work.String() != chainWork(heavy) {
				t.Fatalf("tip %d %s, want the heavy chain's %d", tip.Height, tip.ID, len(heavy)-1)
			}
			if order == "heavy first" {
				if !errors.Is(res[1].Err, ErrLessWork) || res[1].Fork != 3 || res[1].Accepted != 0 {
					t.Fatalf("light source result %+v", res[1])
				}
			} else if res[1].Err != nil || !res[1].Switched || res[1].Fork != 3 {
				t.Fatalf("heavy source result %+v", res[1])
			}
			// A proof for a block on the light branch is refused.
			lc := newTestClient(p, ls)
			lc.store = c.store
			_, err = lc.VerifyTx(context.Background(), light[10].Txs[1].TxID())
			if !errors.Is(err, ErrNotOnBestChain) {
				t.Fatalf("proof off the best chain: %v", err)
			}
		})
	}
}

// A source whose branch has exactly our work is not switched to.
func TestEqualWorkKeepsFirstSeen(t *testing.T) {
	p := testParams(t)
	b := newBuilder(t, p)
	common := b.extend(b.genesisChain(), 2, 600)
	a := b.extend(common, 3, 600)
	other := b.extend(common, 3, 601) // same bits (at the pow limit), other ids
	c := newTestClient(p, &fakeSource{name: "a", blocks: a}, &fakeSource{name: "b", blocks: other})
	res, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[1].Err, ErrLessWork) || c.Store().Tip().ID != a[5].BlockID() {
		t.Fatalf("results %+v, tip %s", res, c.Store().Tip().ID)
	}
}

func TestRefuseBadHeaderChains(t *testing.T) {
	p := testParams(t)
	b := newBuilder(t, p)
	const bad = 8
	cases := []struct {
		name    string
		breakIt func(blocks []*wire.Block)
		want    ErrorKind
		rule    error
	}{
		{"broken link", func(blocks []*wire.Block) {
			blocks[bad].Header.PrevBlock = blocks[bad-2].BlockID()
			remine(p, blocks, bad)
			// remine relinks only the blocks after bad.
		}, ErrBrokenLink, nil},
		{"wrong difficulty", func(blocks []*wire.Block) {
			if blocks[bad].Header.Bits == p.GenesisBits {
				t.Fatal("test chain: block has the genesis bits already")
			}
			blocks[bad].Header.Bits = p.GenesisBits // easier than ASERT says
			remine(p, blocks, bad)
		}, ErrBadDifficulty, consensus.ErrBadBits},
		{"bad proof of work", func(blocks []*wire.Block) {
			h := &blocks[bad].Header
			target := consensus.CompactToBig(h.Bits)
			for h.Nonce = 0; consensus.HashToBig(h.BlockID()).Cmp(target) <= 0; h.Nonce++ {
			}
			blocks[bad+1].Header.PrevBlock = blocks[bad].BlockID()
			remine(p, blocks, bad+1)
		}, ErrBadPoW, consensus.ErrBadPoW},
		{"target above the pow limit", func(blocks []*wire.Block) {
			blocks[bad].Header.Bits = 0x2100ffff
			remine(p, blocks, bad)
		}, ErrBadPoW, consensus.ErrBadTarget},
		{"time not after median time past", func(blocks []*wire.Block) {
			blocks[bad].Header.Time = blocks[bad-6].Header.Time
			remine(p, blocks, bad)
		}, ErrBadTime, consensus.ErrTimeTooOld},
		{"version", func(blocks []*wire.Block) {
			blocks[bad].Header.Version = 2
			remine(p, blocks, bad)
		}, ErrBadHeader, consensus.ErrBadVersion},
		{"from the future", func(blocks []*wire.Block) {
			blocks[bad].Header.Time = uint64(testNow(p)().Unix()) + uint64(p.MaxFutureSeconds) + 1
			remine(p, blocks, bad)
		}, ErrTimeTooNew, consensus.ErrTimeTooNew},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Fast blocks before bad, so its ASERT bits differ from the
			// genesis bits.
			blocks := b.extend(b.extend(b.genesisChain(), bad-1, 30), 6, 600)
			tc.breakIt(blocks)
			src := &fakeSource{name: "bad", blocks: blocks}
			c := newTestClient(p, src)
			res, err := c.Sync(context.Background())
			// The headers before the bad one are valid and extend ours,
			// so they are kept; nothing from the bad one on.
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if !errors.Is(res[0].Err, tc.want) {
				t.Fatalf("got %v, want %v", res[0].Err, tc.want)
			}
			if tc.rule != nil && !errors.Is(res[0].Err, tc.rule) {
				t.Fatalf("%v does not wrap %v", res[0].Err, tc.rule)
			}
			var e *Error
			if !errors.As(res[0].Err, &e) || e.Height != bad || e.Source != "bad" {
				t.Fatalf("error %#v: want height %d from source bad", e, bad)
			}
			if tip := c.Store().Tip(); tip.Height != bad-1 || tip.ID != blocks[bad-1].BlockID() {
				t.Fatalf("tip %d, want %d", tip.Height, bad-1)
			}
		})
	}
}

// A fork whose branch is refused before it outweighs ours leaves our
// chain untouched.
func TestInvalidHeavierBranchRefused(t *testing.T) {
	p := testParams(t)
	b := newBuilder(t, p)
	common := b.extend(b.genesisChain(), 3, 600)
	ours := b.extend(common, 3, 600)
	theirs := b.extend(common, 8, 600)
	theirs[5].Header.Bits = 0x207ffffe // not what ASERT gives
	remine(p, theirs, 5)
	c := newTestClient(p, &fakeSource{name: "ours", blocks: ours}, &fakeSource{name: "theirs", blocks: theirs})
	res, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[1].Err, ErrBadDifficulty) || res[1].Switched || c.Store().Tip().ID != ours[6].BlockID() {
		t.Fatalf("results %+v, tip %d", res, c.Store().Height())
	}
}

func TestRefuseWrongGenesis(t *testing.T) {
	p := testParams(t)
	dev := testgen.DevParams()
	db := newBuilder(t, dev)
	src := &fakeSource{name: "devnode", blocks: db.extend(db.genesisChain(), 3, 600)}
	c := newTestClient(p, src)
	res, err := c.Sync(context.Background())
	if !errors.Is(err, ErrWrongGenesis) || !errors.Is(res[0].Err, ErrWrongGenesis) {
		t.Fatalf("%v, %+v", err, res)
	}
	if c.Store().Height() != 0 {
		t.Fatal("took headers of another network")
	}
}

// A fork deeper than one getheaders range is found by walking back.
// Dev parameters (no ASERT, every block the same work): longer is heavier.
func TestDeepFork(t *testing.T) {
	p := testgen.DevParams()
	b := newBuilder(t, p)
	common := b.extend(b.genesisChain(), 100, 10)
	ours := b.extend(common, 2300, 10)
	theirs := b.extend(common, 2400, 11)
	ourSrc := &fakeSource{name: "ours", blocks: ours}
	theirSrc := &fakeSource{name: "theirs", blocks: theirs}
	c := newTestClient(p, ourSrc, theirSrc)
	res, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res[1].Err != nil || !res[1].Switched || res[1].Fork != 100 || res[1].Accepted != 2400 {
		t.Fatalf("result %+v", res[1])
	}
	if tip := c.Store().Tip(); tip.ID != theirs[2500].BlockID() {
		t.Fatalf("tip %d", tip.Height)
	}
	// Back on ours after it grows heavier.
	ourSrc.blocks = b.extend(ours, 101, 10)
	res, err = c.Sync(context.Background())
	if err != nil || !res[0].Switched || c.Store().Height() != 2501 {
		t.Fatalf("%+v %v height %d", res, err, c.Store().Height())
	}
	if !errors.Is(res[1].Err, ErrLessWork) {
		t.Fatalf("theirs: %v", res[1].Err)
	}
}

func TestStoreReopenAndRepair(t *testing.T) {
	p := testParams(t)
	blocks := honestChain(t, newBuilder(t, p))
	dir := t.TempDir()
	path := filepath.Join(dir, "headers.dat")
	open := func() *Store {
		t.Helper()
		s, err := OpenStore(path, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := open()
	if s.Height() != 0 {
		t.Fatal("new store not at genesis")
	}
	c := NewClient(p, s, &fakeSource{name: "n", blocks: blocks})
	c.Now = testNow(p)
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := s.Tip()
	s.Close()
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	if size() != storeHeaderSize+21*wire.HeaderSize {
		t.Fatalf("file size %d", size())
	}

	s = open()
	if got := s.Tip(); got.ID != want.ID || got.Work.Cmp(want.Work) != 0 || s.Repaired() != nil {
		t.Fatalf("reopened tip %d %s", got.Height, got.ID)
	}
	s.Close()

	// A torn append: half a header at the end is cut off.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(make([]byte, 40))
	f.Close()
	s = open()
	if s.Tip().ID != want.ID || size() != storeHeaderSize+21*wire.HeaderSize {
		t.Fatalf("after torn tail: tip %d size %d", s.Height(), size())
	}
	s.Close()

	// A damaged header (one bit of block 12's merkle root): the file is
	// cut back to block 11, and a sync restores it.
	f, _ = os.OpenFile(path, os.O_RDWR, 0)
	off := int64(storeHeaderSize + 12*wire.HeaderSize + 40)
	var one [1]byte
	f.ReadAt(one[:], off)
	one[0] ^= 1
	f.WriteAt(one[:], off)
	f.Close()
	s = open()
	if s.Height() != 11 || s.Repaired() == nil {
		t.Fatalf("after damage: tip %d, repaired %v", s.Height(), s.Repaired())
	}
	c = NewClient(p, s, &fakeSource{name: "n", blocks: blocks})
	c.Now = testNow(p)
	if _, err := c.Sync(context.Background()); err != nil || s.Tip().ID != want.ID {
		t.Fatalf("resync: %v, tip %d", err, s.Height())
	}
	s.Close()

	// Another network's parameters refuse the file and leave it alone.
	before := size()
	if _, err := OpenStore(path, testgen.DevParams()); !errors.Is(err, ErrWrongGenesis) {
		t.Fatalf("dev params on a test-network file: %v", err)
	}
	if size() != before {
		t.Fatal("foreign file modified")
	}
	// So does a file that is not a header file.
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("this is not a header file at all, not at all, no..."), 0o600)
	if _, err := OpenStore(junk, p); !errors.Is(err, ErrCorruptStore) {
		t.Fatalf("junk: %v", err)
	}
}

// A switch to a heavier branch is on disk after a reopen.
func TestStoreReorgPersisted(t *testing.T) {
	p := testParams(t)
	heavy, light := forkedChains(t, newBuilder(t, p))
	path := filepath.Join(t.TempDir(), "headers.dat")
	s, err := OpenStore(path, p)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(p, s, &fakeSource{name: "light", blocks: light}, &fakeSource{name: "heavy", blocks: heavy})
	c.Now = testNow(p)
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenStore(path, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Tip().ID != heavy[len(heavy)-1].BlockID() || s.Repaired() != nil {
		t.Fatalf("reopened at %d", s.Height())
	}
}

// A failed write ends the sync with the error and blocks further writes.
func TestStoreWriteErrorStopsSync(t *testing.T) {
	p := testParams(t)
	blocks := honestChain(t, newBuilder(t, p))
	s, err := OpenStore(filepath.Join(t.TempDir(), "headers.dat"), p)
	if err != nil {
		t.Fatal(err)
	}
	s.f.Close() // every write now fails
	c := NewClient(p, s, &fakeSource{name: "n", blocks: blocks}, &fakeSource{name: "m", blocks: blocks})
	c.Now = testNow(p)
	res, err := c.Sync(context.Background())
	if err == nil || len(res) != 2 || res[1].Source != "" || s.Height() != 0 {
		t.Fatalf("sync with a failing store: %v, %+v, height %d", err, res, s.Height())
	}
	if _, err := c.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("second sync: %v", err)
	}
}
