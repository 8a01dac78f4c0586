package chain_test

// The harness behind TestFullBlocks, in the style of btcd's
// blockchain/fullblocktests: blocks are built and registered by name
// (NextBlock), then submitted with an expectation (AcceptTip, AcceptSide,
// AcceptMain, Reject, Orphan, Duplicate). Every expectation is checked at
// once against a real Chain on disk, and after every step the chain's UTXO
// set is compared with one recomputed from scratch (recomputeUTXO).

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// fbMode is one way of running a scenario.
type fbMode struct {
	name       string
	cacheBytes int
	// statsEveryStep calls UTXOStats (which flushes the UTXO cache) after
	// every step. Without it the set is checked through Chain.Coin, which
	// reads through the cache without flushing it, and UTXOStats runs only
	// at checkpoints, so unflushed cache states live across many blocks.
	statsEveryStep bool
}

var fbModes = []fbMode{
	{name: "writethrough", cacheBytes: 0, statsEveryStep: true},
	{name: "cache1MiB", cacheBytes: 1 << 20, statsEveryStep: true},
	{name: "cache1MiB-noflush", cacheBytes: 1 << 20, statsEveryStep: false},
}

type fbBlock struct {
	name    string
	parent  string
	height  uint64
	block   *wire.Block
	mutated bool // a changed copy of another block (same header)
}

// coin is an output the scenario may spend.
type coin struct {
	op     wire.OutPoint
	amount uint64
}

func outs(tx *wire.Tx) []coin {
	id := tx.TxID()
	out := make([]coin, len(tx.Outputs))
	for i, o := range tx.Outputs {
		out[i] = coin{op: wire.OutPoint{TxID: id, Index: uint32(i)}, amount: o.Amount}
	}
	return out
}

type fbHarness struct {
	t    *testing.T
	p    *consensus.Params
	mode fbMode
	dir  string
	c    *chain.Chain
	now  int64 // the injected clock, unix seconds

	key   *secp256k1.PrivateKey // the dev key: every output pays to it
	other *secp256k1.PrivateKey // a second key, for wrong-key tests
	pub   [wire.PubKeySize]byte
	pkh   [20]byte

	blocks  map[string]*fbBlock
	cur     *fbBlock
	amounts testgen.Amounts
	// watched are outpoints looked up with Chain.Coin after every step:
	// every output of every transaction the scenario built (only a few of
	// the outputs of very large transactions).
	watched    []wire.OutPoint
	watchedSet map[wire.OutPoint]bool
	kinds      map[consensus.ErrorKind]int // rule kinds seen rejected

	steps, submits int
	// src is where submitted blocks come from (default: the operator's
	// own, as ProcessBlock).
	src chain.Source
}

func newFBHarness(t *testing.T, p *consensus.Params, mode fbMode, kinds map[consensus.ErrorKind]int) *fbHarness {
	t.Helper()
	g := &fbHarness{
		t:          t,
		p:          p,
		mode:       mode,
		dir:        t.TempDir(),
		now:        int64(p.GenesisTime) + 1_000_000,
		key:        consensus.DevPrivateKey(),
		other:      otherKey(),
		blocks:     make(map[string]*fbBlock),
		amounts:    make(testgen.Amounts),
		watchedSet: make(map[wire.OutPoint]bool),
		kinds:      kinds,
	}
	copy(g.pub[:], g.key.PubKey().SerializeCompressed())
	g.pkh = wire.Hash160(g.pub[:])
	g.blocks["genesis"] = &fbBlock{name: "genesis", block: p.Genesis}
	g.remember(p.Genesis.Txs[0])
	g.open()
	return g
}

func otherKey() *secp256k1.PrivateKey {
	k := wire.H([]byte("tally fullblock test other key"))
	return secp256k1.PrivKeyFromBytes(k[:])
}

func (g *fbHarness) config() chain.Config {
	return chain.Config{
		Params:     g.p,
		CacheBytes: g.mode.cacheBytes,
		Now:        func() time.Time { return time.Unix(g.now, 0) },
		Workers:    2,
		NoSync:     true,
	}
}

func (g *fbHarness) open() {
	g.t.Helper()
	c, err := chain.Open(g.dir, g.config())
	if err != nil {
		g.t.Fatalf("open chain: %v", err)
	}
	g.c = c
}

func (g *fbHarness) close() {
	if g.c != nil {
		if err := g.c.Close(); err != nil {
			g.t.Errorf("close chain: %v", err)
		}
		g.c = nil
	}
}

// Reopen closes the chain (flushing its cache) and opens the database
// again, then checks that the tip and UTXO set survived.
func (g *fbHarness) Reopen() {
	g.t.Helper()
	before := g.c.Tip()
	g.close()
	g.open()
	after := g.c.Tip()
	if after.ID != before.ID || after.Height != before.Height || after.Work.Cmp(before.Work) != 0 {
		g.t.Fatalf("after reopen tip is %s (%d), was %s (%d)", g.nameOf(after.ID), after.Height, g.nameOf(before.ID), before.Height)
	}
	if n := g.c.OrphanCount(); n != 0 {
		g.t.Fatalf("after reopen %d orphans, want none (the pool is memory only)", n)
	}
	g.check()
	g.Checkpoint()
}

// SetClock and AdvanceClock move the injected clock.
func (g *fbHarness) SetClock(unix int64)  { g.now = unix }
func (g *fbHarness) AdvanceClock(d int64) { g.now += d }

// --- transactions -------------------------------------------------------

func (g *fbHarness) remember(tx *wire.Tx) {
	id := tx.TxID()
	for i, o := range tx.Outputs {
		op := wire.OutPoint{TxID: id, Index: uint32(i)}
		g.amounts[op] = o.Amount
		if len(tx.Outputs) > 64 && i > 1 && i < len(tx.Outputs)-1 {
			continue
		}
		if !g.watchedSet[op] {
			g.watchedSet[op] = true
			g.watched = append(g.watched, op)
		}
	}
}

// sign sets every input's public key to key's and signs tx with it.
func (g *fbHarness) sign(tx *wire.Tx, key *secp256k1.PrivateKey) *wire.Tx {
	var pub [wire.PubKeySize]byte
	copy(pub[:], key.PubKey().SerializeCompressed())
	for i := range tx.Inputs {
		tx.Inputs[i].PubKey = pub
	}
	sig := consensus.SignInput(key, wire.SigHash(tx, g.p.NetworkID))
	for i := range tx.Inputs {
		tx.Inputs[i].Sig = sig
	}
	g.remember(tx)
	return tx
}

// tx returns a transaction spending ins into outputs, changed by mods and
// then signed with the dev key.
func (g *fbHarness) tx(ins []coin, outputs []wire.TxOut, mods ...func(*wire.Tx)) *wire.Tx {
	tx := &wire.Tx{Version: 1, Outputs: outputs}
	for _, in := range ins {
		tx.Inputs = append(tx.Inputs, wire.TxIn{Prev: in.op})
	}
	for _, m := range mods {
		m(tx)
	}
	return g.sign(tx, g.key)
}

// pay spends ins into n equal outputs to the dev key, leaving fee.
func (g *fbHarness) pay(ins []coin, n int, fee uint64, mods ...func(*wire.Tx)) *wire.Tx {
	var total uint64
	for _, in := range ins {
		total += in.amount
	}
	if total < fee+uint64(n) {
		g.t.Fatalf("cannot pay %d outputs from %d with fee %d", n, total, fee)
	}
	each := (total - fee) / uint64(n)
	o := make([]wire.TxOut, n)
	for i := range o {
		o[i] = wire.TxOut{Amount: each, PKH: g.pkh}
	}
	o[n-1].Amount += total - fee - each*uint64(n)
	return g.tx(ins, o, mods...)
}

// sizedTx spends in into a transaction of exactly size bytes (many outputs
// of 1 base unit and a memo to pad), paying no fee.
func (g *fbHarness) sizedTx(in coin, size int) *wire.Tx {
	for n := (size - 146) / wire.OutputSize; n >= 1; n-- {
		tx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: in.op}}, Outputs: make([]wire.TxOut, n)}
		for i := range tx.Outputs {
			tx.Outputs[i] = wire.TxOut{Amount: 1, PKH: g.pkh}
		}
		tx.Outputs[0].Amount = in.amount - uint64(n-1)
		if memo := size - tx.SerializeSize(); memo >= 0 && memo <= consensus.MaxMemoBytes {
			tx.Extra = make([]byte, memo)
			g.sign(tx, g.key)
			if tx.SerializeSize() != size {
				g.t.Fatalf("sizedTx: %d bytes, want %d", tx.SerializeSize(), size)
			}
			return tx
		}
	}
	g.t.Fatalf("sizedTx: cannot make %d bytes", size)
	return nil
}

// resign changes a signed transaction's signatures with f (r and s are the
// two 32-byte halves) without signing again.
func (g *fbHarness) resign(tx *wire.Tx, f func(r, s []byte)) *wire.Tx {
	for i := range tx.Inputs {
		f(tx.Inputs[i].Sig[:32], tx.Inputs[i].Sig[32:])
	}
	g.remember(tx)
	return tx
}

// coinbase returns a coinbase for height paying value to the dev key;
// extra is the height then tag (so that every named block differs).
func (g *fbHarness) coinbase(height, value uint64, tag string) *wire.Tx {
	free := []byte(tag)
	if len(free) > consensus.MaxCoinbaseFreeBytes {
		free = free[:consensus.MaxCoinbaseFreeBytes]
	}
	extra := consensus.CoinbaseExtra(height, free)
	if value == 0 {
		return &wire.Tx{Version: 1, Extra: extra} // SPEC section 2: a zero reward has no outputs
	}
	return &wire.Tx{Version: 1, Outputs: []wire.TxOut{{Amount: value, PKH: g.pkh}}, Extra: extra}
}

func (g *fbHarness) genesisOut() coin { return outs(g.p.Genesis.Txs[0])[0] }

// cbOut is output 0 of the coinbase of the named block.
func (g *fbHarness) cbOut(name string) coin { return outs(g.block(name).block.Txs[0])[0] }

// --- blocks ---------------------------------------------------------------

func (g *fbHarness) block(name string) *fbBlock {
	g.t.Helper()
	b, ok := g.blocks[name]
	if !ok {
		g.t.Fatalf("no block named %q", name)
	}
	return b
}

func (g *fbHarness) nameOf(id wire.Hash) string {
	for _, b := range g.blocks {
		if b.block.BlockID() == id && !b.mutated {
			return b.name
		}
	}
	return id.String()[:12]
}

// mtp is the median time past of the 11 blocks ending at name: the time a
// child of name must exceed.
func (g *fbHarness) mtp(name string) uint64 {
	var times []uint64
	for b := g.block(name); len(times) < 11; b = g.blocks[b.parent] {
		times = append(times, b.block.Header.Time)
		if b.name == "genesis" {
			break
		}
	}
	return consensus.MedianTime(times)
}

// NextBlock builds the block name on parent: a coinbase for the height
// claiming exactly the subsidy plus the fees of txs (its extra is the height
// and the name), then txs; the time is the parent's plus the target spacing
// (at least the median time past plus one), the bits what the difficulty
// rule asks. Mungers run after the Merkle root is set and before the
// header is solved: a munger that changes transactions must call remerkle
// unless it means to break the root. The header is solved unless its bits
// are not a valid target or a target too hard to solve here.
func (g *fbHarness) NextBlock(name, parent string, txs []*wire.Tx, mungers ...func(*wire.Block)) *wire.Block {
	g.t.Helper()
	if _, dup := g.blocks[name]; dup {
		g.t.Fatalf("block name %q used twice", name)
	}
	pb := g.block(parent)
	height := pb.height + 1
	var fees uint64
	for _, tx := range txs {
		fees += g.amounts.Fee(tx)
	}
	tm := pb.block.Header.Time + uint64(g.p.TargetSpacing)
	if m := g.mtp(parent); tm <= m {
		tm = m + 1
	}
	b := &wire.Block{
		Header: wire.Header{
			Version:   1,
			PrevBlock: pb.block.BlockID(),
			Time:      tm,
			Bits:      consensus.NextBits(g.p, pb.height, pb.block.Header.Time),
		},
		Txs: append([]*wire.Tx{g.coinbase(height, consensus.Subsidy(g.p, height)+fees, name)}, txs...),
	}
	remerkle(b)
	for _, m := range mungers {
		m(b)
	}
	if target, err := consensus.CompactToTarget(b.Header.Bits); err == nil && target.BitLen() > 200 {
		testgen.Solve(&b.Header, g.p)
	}
	for _, tx := range b.Txs {
		g.remember(tx)
	}
	g.cur = &fbBlock{name: name, parent: parent, height: height, block: b}
	g.blocks[name] = g.cur
	return b
}

// Mutate registers name as a copy of base changed by m after mining: the
// header (and so the id) stays the same unless m changes it.
func (g *fbHarness) Mutate(name, base string, m func(*wire.Block)) *wire.Block {
	g.t.Helper()
	bb := g.block(base)
	b := &wire.Block{Header: bb.block.Header, Txs: slices.Clone(bb.block.Txs)}
	m(b)
	for _, tx := range b.Txs {
		g.remember(tx)
	}
	g.cur = &fbBlock{name: name, parent: bb.parent, height: bb.height, block: b, mutated: true}
	g.blocks[name] = g.cur
	return b
}

// Unsolve changes the current block's nonce until its id misses its
// target: a header that does not solve the proof of work.
func (g *fbHarness) Unsolve() {
	h := &g.cur.block.Header
	target := consensus.CompactToBig(h.Bits)
	for consensus.HashToBig(h.BlockID()).Cmp(target) <= 0 {
		h.Nonce++
	}
}

// Use makes a registered block the current one (to submit it again).
func (g *fbHarness) Use(name string) { g.cur = g.block(name) }

func remerkle(b *wire.Block) { b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs()) }

// Mungers.

func setBits(bits uint32) func(*wire.Block) { return func(b *wire.Block) { b.Header.Bits = bits } }
func setTime(t uint64) func(*wire.Block)    { return func(b *wire.Block) { b.Header.Time = t } }

// cbMod changes the coinbase and fixes the Merkle root.
func cbMod(f func(cb *wire.Tx)) func(*wire.Block) {
	return func(b *wire.Block) {
		f(b.Txs[0])
		remerkle(b)
	}
}

// cbExtraLen sets the coinbase extra to the height and n-8 filler bytes.
func cbExtraLen(n int) func(*wire.Block) {
	return cbMod(func(cb *wire.Tx) {
		extra := make([]byte, n)
		copy(extra, cb.Extra[:min(8, n)])
		for i := 8; i < n; i++ {
			extra[i] = 'x'
		}
		cb.Extra = extra
	})
}

// cbHeight writes height into the coinbase extra.
func cbHeight(height uint64) func(*wire.Block) {
	return cbMod(func(cb *wire.Tx) {
		copy(cb.Extra, consensus.CoinbaseExtra(height, nil))
	})
}

// --- expectations ---------------------------------------------------------

func (g *fbHarness) process() (chain.Result, error) {
	g.submits++
	return g.c.ProcessBlockRaw(g.cur.block, nil, g.src)
}

// FromGossip makes the following submissions unrequested blocks from a
// peer; FromOperator makes them the operator's own again.
func (g *fbHarness) FromGossip()   { g.src = chain.Source{Origin: chain.OriginGossip, Peer: "peer"} }
func (g *fbHarness) FromOperator() { g.src = chain.Source{} }

// RefuseLowWork submits the current block and expects it refused as
// low-work (SPEC section 4): not stored, not an orphan, not marked, the
// tip and the database unchanged; sent again, refused again.
func (g *fbHarness) RefuseLowWork() {
	g.t.Helper()
	before := g.c.Tip().ID
	keys := g.dbKeys()
	for range 2 {
		if _, err := g.process(); !errors.Is(err, consensus.ErrLowWork) {
			g.t.Fatalf("%s: got %v, want %q", g.cur.name, err, consensus.ErrLowWork)
		}
	}
	if g.c.HasBlock(g.curID()) || g.c.Tip().ID != before {
		g.t.Fatalf("%s: low-work block stored or moved the tip", g.cur.name)
	}
	if _, ok := g.c.OrphanRoot(g.curID()); ok {
		g.t.Fatalf("%s: low-work block kept as an orphan", g.cur.name)
	}
	if k := g.dbKeys(); k != keys {
		g.t.Fatalf("%s: the database went from %d keys to %d", g.cur.name, keys, k)
	}
	g.check()
}

// ExpectUnknown checks that the named block is neither in the index nor
// remembered as invalid (after a restart: invalid headers from the network
// are not persisted).
func (g *fbHarness) ExpectUnknown(name string) {
	g.t.Helper()
	if g.c.HasBlock(g.block(name).block.BlockID()) {
		g.t.Fatalf("%s: still known after a restart", name)
	}
}

func (g *fbHarness) dbKeys() int {
	it := g.c.DB().NewIterator(nil, nil)
	defer it.Release()
	n := 0
	for it.Next() {
		n++
	}
	return n
}

func (g *fbHarness) curID() wire.Hash { return g.cur.block.BlockID() }

func (g *fbHarness) info(id wire.Hash) chain.BlockInfo {
	g.t.Helper()
	bi, ok := g.c.BlockInfo(id)
	if !ok {
		g.t.Fatalf("%s: not in the block index", g.nameOf(id))
	}
	return bi
}

// AcceptTip submits the current block and expects it to become the tip.
func (g *fbHarness) AcceptTip() {
	g.t.Helper()
	res, err := g.process()
	if err != nil || res != chain.MainChain {
		g.t.Fatalf("%s: got (%v, %v), want accepted as the tip", g.cur.name, res, err)
	}
	g.ExpectTip(g.cur.name)
	if bi := g.info(g.curID()); !bi.Valid || bi.Invalid || !bi.OnMain {
		g.t.Fatalf("%s: index says valid %v invalid %v on-main %v", g.cur.name, bi.Valid, bi.Invalid, bi.OnMain)
	}
	g.check()
}

// AcceptMain submits the current block and expects it on the best chain,
// not necessarily as the tip (orphans waiting for it may follow it).
func (g *fbHarness) AcceptMain() {
	g.t.Helper()
	res, err := g.process()
	if err != nil || res != chain.MainChain {
		g.t.Fatalf("%s: got (%v, %v), want accepted on the main chain", g.cur.name, res, err)
	}
	if bi := g.info(g.curID()); !bi.OnMain || bi.Invalid {
		g.t.Fatalf("%s: index says on-main %v invalid %v", g.cur.name, bi.OnMain, bi.Invalid)
	}
	g.check()
}

// AcceptSide submits the current block and expects it stored on a side
// chain, the tip unchanged.
func (g *fbHarness) AcceptSide() {
	g.t.Helper()
	before := g.c.Tip().ID
	res, err := g.process()
	if err != nil || res != chain.SideChain {
		g.t.Fatalf("%s: got (%v, %v), want accepted on a side chain", g.cur.name, res, err)
	}
	if after := g.c.Tip().ID; after != before {
		g.t.Fatalf("%s: tip moved from %s to %s", g.cur.name, g.nameOf(before), g.nameOf(after))
	}
	if bi := g.info(g.curID()); bi.OnMain || bi.Invalid {
		g.t.Fatalf("%s: index says on-main %v invalid %v", g.cur.name, bi.OnMain, bi.Invalid)
	}
	g.check()
}

// notStored are the kinds of rejections that leave no trace in the index:
// header sanity failures (cheap to check again, so not remembered) and the
// two the SPEC forbids to mark (a body that does not match its header, a
// block from the future), whose genuine or later block must still be
// accepted. Every other rule violation marks the block invalid.
var notStored = map[consensus.ErrorKind]bool{
	consensus.ErrBadVersion:    true,
	consensus.ErrBadTarget:     true,
	consensus.ErrBadPoW:        true,
	consensus.ErrBadMerkleRoot: true,
	consensus.ErrTimeTooNew:    true,
}

// Reject submits the current block and expects a rule error of exactly
// kind, the tip unchanged, and the block marked invalid or not as the kind
// requires (a marked block is refused again as known-invalid).
func (g *fbHarness) Reject(kind consensus.ErrorKind) {
	g.t.Helper()
	before := g.c.Tip().ID
	res, err := g.process()
	var re *consensus.RuleError
	if !errors.As(err, &re) || !errors.Is(err, kind) {
		g.t.Fatalf("%s: got (%v, %v), want rule error %q", g.cur.name, res, err, kind)
	}
	if after := g.c.Tip().ID; after != before {
		g.t.Fatalf("%s: rejected with %q but the tip moved from %s to %s", g.cur.name, kind, g.nameOf(before), g.nameOf(after))
	}
	if g.kinds != nil {
		g.kinds[kind]++
	}
	id := g.curID()
	if notStored[kind] {
		if g.c.HasBlock(id) {
			g.t.Fatalf("%s: rejected with %q but stored in the index", g.cur.name, kind)
		}
		if _, ok := g.c.OrphanRoot(id); ok {
			g.t.Fatalf("%s: rejected with %q but kept as an orphan", g.cur.name, kind)
		}
		if _, err2 := g.c.ProcessBlock(g.cur.block); !errors.Is(err2, kind) {
			g.t.Fatalf("%s: sent again: %v, want %q again", g.cur.name, err2, kind)
		}
	} else {
		bi := g.info(id)
		if !bi.Invalid || bi.OnMain {
			g.t.Fatalf("%s: rejected with %q, index says invalid %v on-main %v; want marked invalid", g.cur.name, kind, bi.Invalid, bi.OnMain)
		}
		if _, err2 := g.c.ProcessBlock(g.cur.block); !errors.Is(err2, chain.ErrKnownInvalid) {
			g.t.Fatalf("%s: sent again: %v, want %q", g.cur.name, err2, chain.ErrKnownInvalid)
		}
	}
	g.check()
}

// Orphan submits the current block and expects it to wait for its parent.
func (g *fbHarness) Orphan() {
	g.t.Helper()
	before := g.c.Tip().ID
	_, err := g.process()
	if !errors.Is(err, chain.ErrOrphan) {
		g.t.Fatalf("%s: got %v, want %v", g.cur.name, err, chain.ErrOrphan)
	}
	if g.c.HasBlock(g.curID()) || g.c.Tip().ID != before {
		g.t.Fatalf("%s: orphan stored in the index or moved the tip", g.cur.name)
	}
	if _, ok := g.c.OrphanRoot(g.curID()); !ok {
		g.t.Fatalf("%s: not in the orphan pool", g.cur.name)
	}
	g.check()
}

// Duplicate submits the current block again and expects ErrDuplicate.
func (g *fbHarness) Duplicate() {
	g.t.Helper()
	if _, err := g.process(); !errors.Is(err, chain.ErrDuplicate) {
		g.t.Fatalf("%s: got %v, want %v", g.cur.name, err, chain.ErrDuplicate)
	}
	g.check()
}

// ExpectTip checks that the named block is the tip.
func (g *fbHarness) ExpectTip(name string) {
	g.t.Helper()
	b := g.block(name)
	tip := g.c.Tip()
	if tip.ID != b.block.BlockID() || tip.Height != b.height {
		g.t.Fatalf("tip is %s (height %d), want %s (height %d)", g.nameOf(tip.ID), tip.Height, name, b.height)
	}
	if id, ok := g.c.IDAt(b.height); !ok || id != tip.ID {
		g.t.Fatalf("IDAt(%d) = %s, want the tip %s", b.height, g.nameOf(id), name)
	}
	if _, ok := g.c.IDAt(b.height + 1); ok {
		g.t.Fatalf("the best chain goes past the tip %s", name)
	}
}

// ExpectChainTip checks that ChainTips lists the named block with status.
func (g *fbHarness) ExpectChainTip(name, status string) {
	g.t.Helper()
	id := g.block(name).block.BlockID()
	for _, ct := range g.c.ChainTips() {
		if ct.ID == id {
			if ct.Status != status {
				g.t.Fatalf("chain tip %s has status %q, want %q", name, ct.Status, status)
			}
			return
		}
	}
	g.t.Fatalf("%s is not among the chain tips", name)
}

// ExpectStatus checks the index flags of a named block.
func (g *fbHarness) ExpectStatus(name string, valid, invalid bool) {
	g.t.Helper()
	bi := g.info(g.block(name).block.BlockID())
	if bi.Valid != valid || bi.Invalid != invalid {
		g.t.Fatalf("%s: valid %v invalid %v, want valid %v invalid %v", name, bi.Valid, bi.Invalid, valid, invalid)
	}
}

// --- the UTXO set ---------------------------------------------------------

type utxoSummary struct {
	hash   wire.Hash
	txouts uint64
	amount uint64
}

// recomputeUTXO rebuilds the UTXO set from scratch by applying every block
// of c's best chain, read back with c.IDAt and c.Block, from genesis (whose
// coinbase outputs are coins of height 0 from a coinbase) to the tip, and
// hashes it as gettxoutsetinfo does.
func recomputeUTXO(t *testing.T, c *chain.Chain) (utxoSummary, map[wire.OutPoint]wire.Coin) {
	t.Helper()
	set := make(map[wire.OutPoint]wire.Coin)
	tip := c.Tip()
	for h := uint64(0); ; h++ {
		id, ok := c.IDAt(h)
		if !ok {
			if h != tip.Height+1 {
				t.Fatalf("recompute: best chain ends at %d, tip height %d", h-1, tip.Height)
			}
			break
		}
		b, err := c.Block(id)
		if err != nil {
			t.Fatalf("recompute: block at height %d: %v", h, err)
		}
		if b.BlockID() != id || (h > 0 && b.Header.PrevBlock != mustID(t, c, h-1)) {
			t.Fatalf("recompute: block at height %d does not link", h)
		}
		for i, tx := range b.Txs {
			txid := tx.TxID()
			if i > 0 {
				for _, in := range tx.Inputs {
					if _, ok := set[in.Prev]; !ok {
						t.Fatalf("recompute: height %d tx %s spends missing %s:%d", h, txid, in.Prev.TxID, in.Prev.Index)
					}
					delete(set, in.Prev)
				}
			}
			for j, o := range tx.Outputs {
				set[wire.OutPoint{TxID: txid, Index: uint32(j)}] = wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: h, Coinbase: i == 0}
			}
		}
	}
	ops := make([]wire.OutPoint, 0, len(set))
	for op := range set {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b wire.OutPoint) int {
		if c := bytes.Compare(a.TxID[:], b.TxID[:]); c != 0 {
			return c
		}
		return int(a.Index) - int(b.Index)
	})
	hs := chain.NewUTXOSetHasher()
	for _, op := range ops {
		hs.Add(op, set[op])
	}
	return utxoSummary{hash: hs.Sum(), txouts: hs.Count, amount: hs.Amount}, set
}

func mustID(t *testing.T, c *chain.Chain, h uint64) wire.Hash {
	id, ok := c.IDAt(h)
	if !ok {
		t.Fatalf("no block at height %d", h)
	}
	return id
}

// check runs after every step: the watched outpoints read through the
// chain (and its cache) match the recomputed set, and, in modes that do,
// UTXOStats matches it.
func (g *fbHarness) check() {
	g.t.Helper()
	g.steps++
	want, set := recomputeUTXO(g.t, g.c)
	for _, op := range g.watched {
		exp, inSet := set[op]
		got, ok, err := g.c.Coin(op)
		if err != nil {
			g.t.Fatalf("step %d (%s): Coin(%s:%d): %v", g.steps, g.cur.name, op.TxID, op.Index, err)
		}
		if ok != inSet || got != exp {
			g.t.Fatalf("step %d (%s): Coin(%s:%d) = %+v %v, recomputed %+v %v", g.steps, g.cur.name, op.TxID, op.Index, got, ok, exp, inSet)
		}
	}
	if g.mode.statsEveryStep {
		g.compareStats(want)
	}
}

// Checkpoint compares UTXOStats (which flushes the cache) with the
// recomputed set, in every mode.
func (g *fbHarness) Checkpoint() {
	g.t.Helper()
	want, _ := recomputeUTXO(g.t, g.c)
	g.compareStats(want)
}

func (g *fbHarness) compareStats(want utxoSummary) {
	g.t.Helper()
	st, err := g.c.UTXOStats()
	if err != nil {
		g.t.Fatalf("UTXOStats: %v", err)
	}
	tip := g.c.Tip()
	if st.Hash != want.hash || st.TxOuts != want.txouts || st.TotalAmount != want.amount || st.BestBlock != tip.ID || st.Height != tip.Height {
		g.t.Fatalf("step %d (%s): UTXOStats %x/%d outs/%d at %d, recomputed %x/%d outs/%d at %d",
			g.steps, g.cur.name, st.Hash[:6], st.TxOuts, st.TotalAmount, st.Height, want.hash[:6], want.txouts, want.amount, tip.Height)
	}
}

// --- rule kinds -----------------------------------------------------------

// outcomeKinds are the kinds in consensus/errors.go that name outcomes of
// processing rather than rules.
var outcomeKinds = map[consensus.ErrorKind]bool{
	consensus.ErrDuplicate: true, consensus.ErrOrphan: true, consensus.ErrKnownInvalid: true,
	consensus.ErrLowWork: true, consensus.ErrMalformed: true, consensus.ErrNotSynced: true,
}

// ruleKinds returns every rule kind of consensus's meanings table (which
// its own test keeps equal to the kinds errors.go declares), so a rule
// added there without a scenario here fails the test.
func ruleKinds(t *testing.T) map[consensus.ErrorKind]string {
	t.Helper()
	kinds := make(map[consensus.ErrorKind]string)
	for _, k := range consensus.Kinds() {
		if !outcomeKinds[k] {
			kinds[k] = string(k)
		}
	}
	if len(kinds) < 30 {
		t.Fatalf("found only %d rule kinds in consensus", len(kinds))
	}
	return kinds
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
