package wire_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"tally/wire"
)

// The reference below is RFC 6962 section 2.1 written out directly, with
// crypto/sha256 only: MTH({d0}) = H(0x00 || d0), MTH(D[n]) =
// H(0x01 || MTH(D[0:k]) || MTH(D[k:n])) for the largest power of two k < n.

func refSplit(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

func refLeaf(txid wire.Hash) wire.Hash { return sha([]byte{0x00}, txid[:]) }

func refNode(l, r wire.Hash) wire.Hash { return sha([]byte{0x01}, l[:], r[:]) }

func refRoot(d []wire.Hash) wire.Hash {
	if len(d) == 1 {
		return refLeaf(d[0])
	}
	k := refSplit(len(d))
	return refNode(refRoot(d[:k]), refRoot(d[k:]))
}

// refPath is RFC 6962 PATH(m, D): sibling hashes from the leaf up.
func refPath(m int, d []wire.Hash) []wire.Hash {
	if len(d) == 1 {
		return nil
	}
	k := refSplit(len(d))
	if m < k {
		return append(refPath(m, d[:k]), refRoot(d[k:]))
	}
	return append(refPath(m-k, d[k:]), refRoot(d[:k]))
}

// refShape is the side each sibling of leaf m sits on in a tree of n
// leaves, from the leaf up (true: the sibling is on the right).
func refShape(m, n int) []bool {
	if n == 1 {
		return nil
	}
	k := refSplit(n)
	if m < k {
		return append(refShape(m, k), true)
	}
	return append(refShape(m-k, n-k), false)
}

func testTxIDs(n int) []wire.Hash {
	ids := make([]wire.Hash, n)
	for i := range ids {
		ids[i] = sha([]byte("txid"), binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
	return ids
}

func TestMerkleHashes(t *testing.T) {
	id := seqHash(1)
	if wire.MerkleLeaf(id) != sha(cat([]byte{0}, id[:])) {
		t.Fatal("MerkleLeaf is not H(0x00 || txid)")
	}
	a, b := seqHash(2), seqHash(3)
	if wire.MerkleNode(a, b) != sha(cat([]byte{1}, a[:], b[:])) {
		t.Fatal("MerkleNode is not H(0x01 || left || right)")
	}
	if wire.MerkleNode(a, b) == wire.MerkleNode(b, a) {
		t.Fatal("MerkleNode is symmetric")
	}
	if wire.MerkleRoot(nil) != wire.ZeroHash {
		t.Fatal("root of no leaves is not the zero hash")
	}
}

func TestMerkleRootMatchesRFC6962(t *testing.T) {
	ids := testTxIDs(70)
	for n := 1; n <= 70; n++ {
		in := append([]wire.Hash(nil), ids[:n]...)
		if got, want := wire.MerkleRoot(in), refRoot(ids[:n]); got != want {
			t.Fatalf("n=%d: MerkleRoot = %s, RFC 6962 = %s", n, got, want)
		}
		if !reflect.DeepEqual(in, ids[:n]) {
			t.Fatalf("n=%d: MerkleRoot modified its input", n)
		}
	}
}

func TestMerkleKnownStructure(t *testing.T) {
	ids := testTxIDs(4)
	a, b, c, d := ids[0], ids[1], ids[2], ids[3]
	la, lb, lc, ld := refLeaf(a), refLeaf(b), refLeaf(c), refLeaf(d)

	if got := wire.MerkleRoot([]wire.Hash{a}); got != la || got == a {
		t.Errorf("n=1: root %s, want the leaf hash H(00||a) %s", got, la)
	}
	if got := wire.MerkleRoot([]wire.Hash{a, b}); got != refNode(la, lb) {
		t.Errorf("n=2: root %s, want H(01||H(00||a)||H(00||b))", got)
	}
	// n=3: c is promoted, not paired with a copy of itself.
	abc := wire.MerkleRoot([]wire.Hash{a, b, c})
	if abc != refNode(refNode(la, lb), lc) {
		t.Errorf("n=3: root %s, want H(01 || H(01||la||lb) || lc)", abc)
	}
	if abc == wire.MerkleRoot([]wire.Hash{a, b, c, c}) {
		t.Error("n=3: root(a,b,c) == root(a,b,c,c): the last leaf is duplicated (CVE-2012-2459)")
	}
	if abc == refNode(refNode(la, lb), refNode(lc, lc)) {
		t.Error("n=3: the odd leaf is hashed with itself")
	}
	if got := wire.MerkleRoot(ids); got != refNode(refNode(la, lb), refNode(lc, ld)) {
		t.Errorf("n=4: root %s", got)
	}
	// n=5: split at 4; the fifth leaf joins at the top.
	ids5 := testTxIDs(5)
	if got := wire.MerkleRoot(ids5); got != refNode(wire.MerkleRoot(ids5[:4]), refLeaf(ids5[4])) {
		t.Errorf("n=5: root %s", got)
	}
	// Different leaf counts give different roots.
	seen := map[wire.Hash]int{}
	all := testTxIDs(70)
	for n := 1; n <= 70; n++ {
		r := wire.MerkleRoot(all[:n])
		if m, dup := seen[r]; dup {
			t.Errorf("n=%d and n=%d share a root", n, m)
		}
		seen[r] = n
	}
}

func TestMerkleProofAllIndices(t *testing.T) {
	ids := testTxIDs(40)
	for n := 1; n <= 40; n++ {
		d := ids[:n]
		root := wire.MerkleRoot(d)
		for m := range n {
			p, err := wire.BuildMerkleProof(d, m)
			if err != nil {
				t.Fatalf("n=%d m=%d: %v", n, m, err)
			}
			if p.Index != uint32(m) || p.LeafCount != uint32(n) {
				t.Fatalf("n=%d m=%d: proof says index %d of %d", n, m, p.Index, p.LeafCount)
			}
			if want := refPath(m, d); !reflect.DeepEqual(p.Path, want) {
				t.Fatalf("n=%d m=%d: path %v, RFC 6962 PATH %v", n, m, p.Path, want)
			}
			if err := p.Verify(d[m], root); err != nil {
				t.Fatalf("n=%d m=%d: valid proof refused: %v", n, m, err)
			}
			if r, err := p.RootFromProof(d[m]); err != nil || r != root {
				t.Fatalf("n=%d m=%d: RootFromProof = %s, %v", n, m, r, err)
			}
		}
	}
	for _, bad := range []int{-1, 5, 6} {
		if _, err := wire.BuildMerkleProof(ids[:5], bad); err == nil {
			t.Errorf("BuildMerkleProof(5 leaves, %d) succeeded", bad)
		}
	}
	if _, err := wire.BuildMerkleProof(nil, 0); err == nil {
		t.Error("BuildMerkleProof(no leaves) succeeded")
	}
}

func clonePath(p wire.MerkleProof) wire.MerkleProof {
	p.Path = append([]wire.Hash(nil), p.Path...)
	return p
}

func TestMerkleProofTamper(t *testing.T) {
	ids := testTxIDs(41)
	wrongCountFailures, wrongCountPasses := 0, 0
	for n := 1; n <= 40; n++ {
		d := ids[:n]
		root := wire.MerkleRoot(d)
		for m := range n {
			good, _ := wire.BuildMerkleProof(d, m)
			txid := d[m]
			fail := func(what string, p wire.MerkleProof, txid, root wire.Hash) {
				t.Helper()
				if err := p.Verify(txid, root); err == nil {
					t.Fatalf("n=%d m=%d: %s verified", n, m, what)
				}
			}
			for i := range good.Path {
				p := clonePath(good)
				p.Path[i][i%wire.HashSize] ^= 0x01
				fail("changed sibling", p, txid, root)
			}
			for j := 0; j < n+2; j++ {
				if j != m {
					p := good
					p.Index = uint32(j)
					fail("wrong index", p, txid, root)
				}
			}
			// The root does not commit to the leaf count (SPEC 2), so a
			// different count whose tree puts the leaf's siblings on the
			// same sides at the same depths verifies too. Any other
			// count must fail.
			for c := 0; c <= 2*n+2; c++ {
				if c == n {
					continue
				}
				p := good
				p.LeafCount = uint32(c)
				err := p.Verify(txid, root)
				sameShape := m < c && reflect.DeepEqual(refShape(m, c), refShape(m, n))
				switch {
				case sameShape && err != nil:
					t.Fatalf("n=%d m=%d count %d: same shape, refused: %v", n, m, c, err)
				case !sameShape && err == nil:
					t.Fatalf("n=%d m=%d: wrong leaf count %d verified", n, m, c)
				case sameShape:
					wrongCountPasses++
				default:
					wrongCountFailures++
				}
			}
			p := clonePath(good)
			p.Path = append(p.Path, root)
			fail("extra sibling appended", p, txid, root)
			p = clonePath(good)
			p.Path = append(p.Path, wire.Hash{})
			fail("extra zero sibling appended", p, txid, root)
			p = clonePath(good)
			p.Path = append([]wire.Hash{refLeaf(txid)}, p.Path...)
			fail("extra sibling prepended", p, txid, root)
			for i := range good.Path {
				p := clonePath(good)
				p.Path = append(p.Path[:i], p.Path[i+1:]...)
				fail("sibling removed", p, txid, root)
			}
			fail("wrong txid", good, ids[(m+1)%len(ids)], root)
			fail("leaf hash as txid", good, refLeaf(txid), root)
			wrongRoot := root
			wrongRoot[31] ^= 0x80
			fail("wrong root", good, txid, wrongRoot)
			if n > 1 {
				fail("root of the wrong block", good, txid, wire.MerkleRoot(ids[:n+1]))
			}
		}
	}
	if wrongCountFailures == 0 {
		t.Fatal("no wrong leaf count was refused")
	}
	t.Logf("wrong leaf counts: %d refused, %d with the same tree shape verified", wrongCountFailures, wrongCountPasses)

	// Degenerate proofs.
	root := wire.MerkleRoot(ids[:4])
	for name, p := range map[string]wire.MerkleProof{
		"zero leaves":      {Index: 0, LeafCount: 0},
		"index = count":    {Index: 4, LeafCount: 4, Path: refPath(0, ids[:4])},
		"path too long":    {Index: 0, LeafCount: 1<<32 - 1, Path: make([]wire.Hash, wire.MaxMerklePath+1)},
		"no path for four": {Index: 0, LeafCount: 4},
	} {
		if err := p.Verify(ids[0], root); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// TestMerkleLeafNodeConfusion: with domain separation, an interior node
// cannot pass for a leaf. In Bitcoin's tree a 64-byte transaction whose
// bytes are the two children of an interior node has that node as its
// txid, so a proof one level short "proves" it; here neither the node, nor
// any hash of its 64-byte preimage, verifies as a leaf.
func TestMerkleLeafNodeConfusion(t *testing.T) {
	ids := testTxIDs(4)
	root := wire.MerkleRoot(ids)
	l0, l1 := refLeaf(ids[0]), refLeaf(ids[1])
	node01 := refNode(l0, l1)
	node23 := refNode(refLeaf(ids[2]), refLeaf(ids[3]))
	if refNode(node01, node23) != root {
		t.Fatal("test tree is wrong")
	}
	children := cat(l0[:], l1[:]) // the 64-byte "transaction"
	if len(children) != 64 {
		t.Fatal("children are not 64 bytes")
	}
	// The lifted proof: index 0 of a 2-leaf tree whose sibling is node23.
	short := wire.MerkleProof{Index: 0, LeafCount: 2, Path: []wire.Hash{node23}}
	candidates := map[string]wire.Hash{
		"the interior node":            node01,
		"H2 of the 64 child bytes":     dsha(children),
		"H of the 64 child bytes":      sha(children),
		"H2 of the two original txids": dsha(ids[0][:], ids[1][:]),
	}
	for name, txid := range candidates {
		if err := short.Verify(txid, root); err == nil {
			t.Errorf("%s verified as a leaf one level up", name)
		}
	}
	// A real 64-byte transaction hashes to a leaf, never to a node.
	tx64 := &wire.Tx{Version: 1, Outputs: []wire.TxOut{{Amount: 1}}, Extra: make([]byte, 21)}
	if tx64.SerializeSize() != 64 {
		t.Fatalf("tx64 is %d bytes", tx64.SerializeSize())
	}
	copy(children, tx64.Encode())
	if wire.MerkleLeaf(tx64.TxID()) == refNode(wire.Hash(children[:32]), wire.Hash(children[32:])) {
		t.Fatal("a 64-byte transaction's leaf equals the node over its halves")
	}
	// Control: the honest proof of leaf 0 works.
	p, _ := wire.BuildMerkleProof(ids, 0)
	if err := p.Verify(ids[0], root); err != nil {
		t.Fatal(err)
	}
}

func sampleTxProof(t testing.TB, n, m int) *wire.TxProof {
	t.Helper()
	ids := testTxIDs(n)
	p, err := wire.BuildMerkleProof(ids, m)
	if err != nil {
		t.Fatal(err)
	}
	h := goldenBlock().Header
	h.MerkleRoot = wire.MerkleRoot(ids)
	return &wire.TxProof{Header: h, TxID: ids[m], Proof: p}
}

func TestTxProofEncoding(t *testing.T) {
	for _, c := range [][2]int{{1, 0}, {2, 1}, {5, 4}, {40, 17}, {1000, 999}} {
		tp := sampleTxProof(t, c[0], c[1])
		b := tp.Encode()
		if err := tp.Verify(); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		// Layout: header 88 | txid 32 | index u32 | leaf_count u32 | varint n | n*32.
		n := len(tp.Proof.Path)
		if len(b) != 88+32+4+4+1+32*n {
			t.Fatalf("%v: %d bytes", c, len(b))
		}
		if !bytes.Equal(b[:88], tp.Header.Encode()) || !bytes.Equal(b[88:120], tp.TxID[:]) ||
			!bytes.Equal(b[120:124], le32(uint32(c[1]))) || !bytes.Equal(b[124:128], le32(uint32(c[0]))) ||
			b[128] != byte(n) {
			t.Fatalf("%v: fields misplaced: %x", c, b[:129])
		}
		for i, h := range tp.Proof.Path {
			if !bytes.Equal(b[129+32*i:161+32*i], h[:]) {
				t.Fatalf("%v: path[%d] misplaced", c, i)
			}
		}
		got, err := wire.DecodeTxProof(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tp) {
			t.Fatalf("%v: round trip differs", c)
		}
		if err := got.Verify(); err != nil {
			t.Fatalf("%v: decoded proof does not verify: %v", c, err)
		}
		for i := range len(b) {
			_, err := wire.DecodeTxProof(b[:i:i])
			wantDecodeErr(t, err, "truncated proof")
		}
		_, err = wire.DecodeTxProof(cat(b, []byte{0}))
		wantDecodeErr(t, err, "proof with a trailing byte")
	}

	// A tampered proof decodes but does not verify.
	tp := sampleTxProof(t, 9, 3)
	tp.TxID[0] ^= 1
	if dec, err := wire.DecodeTxProof(tp.Encode()); err != nil || dec.Verify() == nil {
		t.Fatalf("tampered proof: decode err %v, or it verified", err)
	}

	base := sampleTxProof(t, 1, 0).Encode() // path length 0 at offset 128
	prefix := base[:128]
	for name, b := range map[string][]byte{
		"path length 33":           cat(prefix, uvar(33), make([]byte, 33*32)),
		"path length 2^40":         cat(prefix, uvar(1<<40), make([]byte, 64)),
		"path length 80 00":        cat(prefix, []byte{0x80, 0x00}),
		"path length 81 00":        cat(prefix, []byte{0x81, 0x00}, make([]byte, 32)),
		"path shorter than length": cat(prefix, uvar(3), make([]byte, 64)),
		"empty":                    {},
		"header only":              base[:88],
	} {
		_, err := wire.DecodeTxProof(b)
		wantDecodeErr(t, err, name)
	}
	b := cat(prefix, uvar(32), make([]byte, 32*32))
	if p, err := wire.DecodeTxProof(b); err != nil || len(p.Proof.Path) != 32 {
		t.Fatalf("path length 32 refused: %v", err)
	}
}
