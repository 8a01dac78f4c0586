package mempool

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

// propModel drives random operations against a fixture and checks the
// pool after each.
type propModel struct {
	t   *testing.T
	f   *fixture
	rng *rand.Rand
	// outs lists every output to the dev key the test made, in creation
	// order (for deterministic picks); amounts holds their amounts.
	outs    []wire.OutPoint
	amounts map[wire.OutPoint]uint64
	// alt is the tip of a branch a reorg left, to reorganize back to.
	alt       *wire.Block
	altHeight uint64
	uniq      uint64 // makes every test-built block distinct
	verified  map[wire.Hash]bool
	events    []chain.Event
	counts    map[string]int
}

func (m *propModel) addOuts(tx *wire.Tx) {
	for _, s := range testgen.Outputs(tx) {
		if tx.Outputs[s.Out.Index].PKH != m.f.g.PKH {
			continue
		}
		if _, ok := m.amounts[s.Out]; !ok {
			m.outs = append(m.outs, s.Out)
		}
		m.amounts[s.Out] = s.Amount
	}
}

// Output states, in the order the pool's check meets them.
const (
	stAvail    = iota // unspent in chain (mature) or a pool output, unspent in the pool
	stPoolOut         // available, and a pool output
	stConflict        // spent by a pool tx
	stImmature        // an immature coinbase output
	stGone            // neither in the chain's UTXO set nor the pool
)

func (m *propModel) state(op wire.OutPoint) int {
	p := m.f.pool
	if _, ok := p.Spender(op); ok {
		return stConflict
	}
	if e, ok := p.Get(op.TxID); ok {
		if int(op.Index) < len(e.Tx.Outputs) {
			return stPoolOut
		}
		return stGone
	}
	c, ok, err := m.f.c.Coin(op)
	if err != nil {
		m.t.Fatal(err)
	}
	if !ok {
		return stGone
	}
	next := m.f.c.Tip().Height + 1
	if c.Coinbase && c.Height != 0 && next < c.Height+m.f.p.CoinbaseMaturity {
		return stImmature
	}
	return stAvail
}

// pick returns a random output, biased towards recent ones so that chains
// of unconfirmed transactions grow.
func (m *propModel) pick() wire.OutPoint {
	if m.rng.IntN(2) == 0 && len(m.outs) > 40 {
		return m.outs[len(m.outs)-1-m.rng.IntN(40)]
	}
	return m.outs[m.rng.IntN(len(m.outs))]
}

// pickInputs returns 1 or 2 distinct outputs; when wantValid, it tries to
// find available ones.
func (m *propModel) pickInputs(wantValid bool) []wire.OutPoint {
	n := 1 + m.rng.IntN(2)
	var ins []wire.OutPoint
	for tries := 0; len(ins) < n && tries < 60; tries++ {
		op := m.pick()
		if slices.Contains(ins, op) {
			continue
		}
		if wantValid {
			if s := m.state(op); s != stAvail && s != stPoolOut {
				continue
			}
		}
		ins = append(ins, op)
	}
	return ins
}

func (m *propModel) build(ins []wire.OutPoint, nOut int, fee uint64) *wire.Tx {
	spends := make([]testgen.Spend, len(ins))
	for i, op := range ins {
		spends[i] = testgen.Spend{Out: op, Amount: m.amounts[op]}
	}
	return m.f.g.Pay(spends, nOut, fee)
}

func txSize(nIn, nOut int) int {
	return 4 + 1 + nIn*wire.InputSize + 1 + nOut*wire.OutputSize + 8 + 1
}

// opAccept submits a random transaction and checks the verdict against the
// states of its inputs.
func (m *propModel) opAccept() {
	ins := m.pickInputs(m.rng.IntN(10) < 7)
	if len(ins) == 0 {
		return
	}
	nOut := 1 + m.rng.IntN(3)
	size := txSize(len(ins), nOut)
	rate := uint64(1 + m.rng.IntN(30))
	fee := rate * uint64(size)
	lowFee := m.rng.IntN(12) == 0
	if lowFee {
		fee = uint64(m.rng.IntN(size))
	}
	var total uint64
	for _, op := range ins {
		total += m.amounts[op]
	}
	if total <= fee+uint64(nOut) {
		return
	}
	states := make([]int, len(ins))
	conflict, poolParent := false, false
	for i, op := range ins {
		states[i] = m.state(op)
		conflict = conflict || states[i] == stConflict
		poolParent = poolParent || states[i] == stPoolOut
	}
	tx := m.build(ins, nOut, fee)
	if conflict {
		m.checkReplacement(tx, ins, fee)
		return
	}
	_, err := m.f.pool.Accept(tx, "peer")
	want := ErrorKind("")
	switch {
	default:
		for _, s := range states {
			if s == stGone {
				want = ErrMissingInputs
				break
			}
			if s == stImmature {
				want = ErrImmature
				break
			}
		}
		if want == "" && lowFee {
			want = ErrLowFee
		}
	}
	switch {
	case err == nil:
		if want != "" {
			m.t.Fatalf("accepted a tx expected to fail with %s (states %v)", want, states)
		}
		m.addOuts(tx)
		m.counts["accepted"]++
	case errors.Is(err, ErrAlreadyKnown) && (m.f.pool.Has(tx.TxID()) || m.isOrphan(tx.TxID())):
		m.counts["same tx again"]++ // RFC 6979: same inputs, outputs and fee
	case errors.Is(err, ErrAlreadyKnown) && want == ErrMissingInputs && m.inChain(tx):
		m.counts["same tx again"]++ // rebuilt a mined tx: its inputs are spent by itself
	case want == "" && poolParent && errors.Is(err, ErrTooLongChain):
		m.counts["too long chain"]++
	case want == "":
		m.t.Fatalf("valid tx refused (states %v): %v", states, err)
	default:
		if !errors.Is(err, want) {
			m.t.Fatalf("tx with input states %v: error %v, want %s", states, err, want)
		}
		m.counts[string(want)]++
	}
}

// checkReplacement submits tx, which spends what pool transactions spend,
// and checks the replace-by-fee rules against what the pool held before:
// accepted, it pays more than everything it evicted plus 1 per byte, at a
// higher fee rate than each, and every evicted transaction is gone;
// refused, the reason is a replacement rule or a state of its inputs.
func (m *propModel) checkReplacement(tx *wire.Tx, ins []wire.OutPoint, fee uint64) {
	p := m.f.pool
	evicted := map[wire.Hash]EntryInfo{}
	var walk func(id wire.Hash)
	walk = func(id wire.Hash) {
		if _, seen := evicted[id]; seen {
			return
		}
		info, ok := p.Info(id)
		if !ok {
			m.t.Fatalf("pool spender %s has no entry", id)
		}
		evicted[id] = info
		for _, c := range info.SpentBy {
			walk(c)
		}
	}
	for _, op := range ins {
		if id, ok := p.Spender(op); ok {
			walk(id)
		}
	}
	_, err := p.Accept(tx, "peer")
	if err != nil {
		for _, k := range []ErrorKind{ErrInsufficientFee, ErrTooManyReplacements, ErrSpendsConflictingTx,
			ErrMissingInputs, ErrImmature, ErrLowFee, ErrTooLongChain, ErrAlreadyKnown} {
			if errors.Is(err, k) {
				m.counts["replacement refused: "+string(k)]++
				return
			}
		}
		m.t.Fatalf("replacement refused for no replacement reason: %v", err)
	}
	size := uint64(tx.SerializeSize())
	var sum uint64
	for id, e := range evicted {
		if p.Has(id) {
			m.t.Fatalf("replaced %s still in the pool", id)
		}
		if fee*uint64(e.Size) <= e.Fee*size {
			m.t.Fatalf("replacement at %d/%d does not beat %s at %d/%d", fee, size, id, e.Fee, e.Size)
		}
		sum += e.Fee
	}
	if fee < sum+size || len(evicted) > MaxReplacements {
		m.t.Fatalf("replacement paying %d evicted %d transactions paying %d", fee, len(evicted), sum)
	}
	m.addOuts(tx)
	m.counts["replacements"]++
}

func (m *propModel) inChain(tx *wire.Tx) bool {
	for _, s := range testgen.Outputs(tx) {
		if _, ok, _ := m.f.c.Coin(s.Out); ok {
			return true
		}
	}
	return false
}

func (m *propModel) isOrphan(txid wire.Hash) bool {
	m.f.pool.mu.RLock()
	defer m.f.pool.mu.RUnlock()
	_, ok := m.f.pool.orphans[txid]
	return ok
}

// opOrphanPair sends a child before its parent.
func (m *propModel) opOrphanPair() {
	ins := m.pickInputs(true)
	if len(ins) == 0 {
		return
	}
	// A fee of its own: a pair built on the same input before may still
	// be waiting (its parent refused for too long a chain).
	m.uniq++
	parent := m.build(ins[:1], 2, 500+m.uniq%1000)
	child := m.f.g.Pay([]testgen.Spend{out(parent, 0)}, 1, 400)
	// Its own peer name: the random submissions fill "peer"'s share of
	// the orphan pool.
	_, err := m.f.pool.Accept(child, "pairs")
	if !errors.Is(err, ErrMissingInputs) {
		m.t.Fatalf("child before parent: %v", err)
	}
	if _, err := m.f.pool.Accept(parent, "pairs"); err != nil {
		if errors.Is(err, ErrTooLongChain) {
			return
		}
		m.t.Fatalf("parent of an orphan: %v", err)
	}
	m.addOuts(parent)
	info, _ := m.f.pool.Info(parent.TxID())
	if !m.f.pool.Has(child.TxID()) && info.AncestorCount < DefaultMaxAncestors {
		m.t.Fatal("orphan not accepted after its parent")
	}
	m.addOuts(child)
	m.counts["orphan pairs"]++
}

func (m *propModel) templateNow() time.Time { return m.f.templateNow() }

// opMineTemplate mines the pool's template and processes it.
func (m *propModel) opMineTemplate() {
	tmpl := m.f.pool.NewTemplate(m.f.g.PKH, m.templateNow(), m.uniq)
	m.uniq++
	b := tmpl.Block()
	testgen.Solve(&b.Header, m.f.p)
	if res, err := m.f.c.ProcessBlock(b); err != nil || res != chain.MainChain {
		m.t.Fatalf("template block with %d txs: %v %v", len(tmpl.Txs), res, err)
	}
	for _, tt := range tmpl.Txs {
		if m.f.pool.Has(tt.TxID) {
			m.t.Fatalf("mined %s still in the pool", tt.TxID)
		}
	}
	m.addOuts(b.Txs[0])
	m.counts["templates mined"]++
	m.counts["template txs"] += len(tmpl.Txs)
}

// block builds a distinct block on parent.
func (m *propModel) block(parent testgen.Parent, txs []*wire.Tx) *wire.Block {
	m.uniq++
	u := m.uniq
	b := m.f.g.Block(parent, txs, func(b *wire.Block) { b.Header.Time += u })
	m.addOuts(b.Txs[0])
	return b
}

// mainParent returns the best-chain block at height as a parent.
func (m *propModel) mainParent(h uint64) (testgen.Parent, *wire.Block) {
	id, ok := m.f.c.IDAt(h)
	if !ok {
		m.t.Fatalf("no block at %d", h)
	}
	b, err := m.f.c.Block(id)
	if err != nil {
		m.t.Fatal(err)
	}
	return testgen.ParentOf(b, h), b
}

// descendants returns txid and its pool descendants.
func (m *propModel) descendants(txid wire.Hash) []wire.Hash {
	out := []wire.Hash{txid}
	for i := 0; i < len(out); i++ {
		info, _ := m.f.pool.Info(out[i])
		for _, c := range info.SpentBy {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// findVictim returns a pool transaction with an input confirmed at or
// below height, and a transaction double-spending that input (nil if there
// is none).
func (m *propModel) findVictim(height uint64) (wire.Hash, *wire.Tx) {
	for _, id := range m.f.pool.TxIDs() {
		e, ok := m.f.pool.Get(id)
		if !ok {
			continue
		}
		for _, in := range e.Tx.Inputs {
			c, ok, _ := m.f.c.Coin(in.Prev)
			if !ok || c.Height > height || c.Coinbase && c.Height != 0 && height+1 < c.Height+m.f.p.CoinbaseMaturity {
				continue
			}
			amt := m.amounts[in.Prev]
			if amt <= 5000 {
				continue
			}
			// The fee varies: the victim may be a double spend an earlier
			// reorg returned to the pool, and must not be rebuilt as is.
			m.uniq++
			ds := m.f.g.Tx([]testgen.Spend{{Out: in.Prev, Amount: amt}}, []wire.TxOut{{Amount: amt - 4000 - m.uniq%1000, PKH: m.f.g.PKH}})
			if ds.TxID() != id {
				return id, ds
			}
		}
	}
	return wire.Hash{}, nil
}

// opConflictBlock connects a block on the tip holding a double spend of a
// pool transaction's input: it leaves the pool with its descendants.
func (m *propModel) opConflictBlock() {
	tipH := m.f.c.Tip().Height
	victim, ds := m.findVictim(tipH)
	if ds == nil {
		return
	}
	gone := m.descendants(victim)
	parent, _ := m.mainParent(tipH)
	m.addOuts(ds)
	if res, err := m.f.c.ProcessBlock(m.block(parent, []*wire.Tx{ds})); err != nil || res != chain.MainChain {
		m.t.Fatalf("block with a double spend: %v %v", res, err)
	}
	for _, id := range gone {
		if m.f.pool.Has(id) {
			m.t.Fatalf("pool tx %s (or a descendant of the double-spent %s) survived", id, victim)
		}
	}
	m.counts["conflicting blocks"]++
}

// opCompete builds a heavier branch forking one or two blocks below the
// tip; its first block double-spends a confirmed input of a pool
// transaction when there is one. That transaction and its descendants must
// leave the pool.
func (m *propModel) opCompete() {
	tipH := m.f.c.Tip().Height
	depth := uint64(1 + m.rng.IntN(2))
	if tipH < depth+1 {
		return
	}
	forkH := tipH - depth
	parent, _ := m.mainParent(forkH)
	_, oldTip := m.mainParent(tipH)

	victim, ds := m.findVictim(forkH)
	var gone []wire.Hash
	var first []*wire.Tx
	if ds != nil {
		gone = m.descendants(victim)
		first = []*wire.Tx{ds}
		m.addOuts(ds)
	}
	var last *wire.Block
	for h := forkH; h <= tipH; h++ {
		var txs []*wire.Tx
		if h == forkH {
			txs = first
		}
		last = m.block(parent, txs)
		parent = testgen.ParentOf(last, h+1)
		want := chain.SideChain
		if h == tipH {
			want = chain.MainChain
		}
		if res, err := m.f.c.ProcessBlock(last); err != nil || res != want {
			m.t.Fatalf("competing block at %d: %v %v", h+1, res, err)
		}
	}
	if m.f.c.Tip().ID != last.BlockID() {
		m.t.Fatal("no reorg to the heavier branch")
	}
	for _, id := range gone {
		if m.f.pool.Has(id) {
			m.t.Fatalf("pool tx %s (or a descendant of the double-spent %s) survived the reorg", id, victim)
		}
	}
	m.alt, m.altHeight = oldTip, tipH
	m.counts["competing reorgs"]++
	if ds != nil {
		m.counts["double spends mined"]++
	}
}

// opReorgBack extends the branch the last reorg left until it is heavier.
func (m *propModel) opReorgBack() {
	if m.alt == nil {
		return
	}
	tipH := m.f.c.Tip().Height
	if tipH+1-m.altHeight > 4 {
		m.alt = nil
		return
	}
	_, oldTip := m.mainParent(tipH)
	parent := testgen.ParentOf(m.alt, m.altHeight)
	var last *wire.Block
	for h := m.altHeight; h <= tipH; h++ {
		last = m.block(parent, nil)
		parent = testgen.ParentOf(last, h+1)
		if _, err := m.f.c.ProcessBlock(last); err != nil {
			m.t.Fatalf("extending the old branch: %v", err)
		}
	}
	if m.f.c.Tip().ID != last.BlockID() {
		m.t.Fatal("no reorg back")
	}
	m.alt, m.altHeight = oldTip, tipH
	m.counts["reorgs back"]++
}

// chainView is the chain's UTXO set as a consensus.CoinView.
type chainView struct {
	t testing.TB
	c *chain.Chain
}

func (v chainView) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	return v.c.Coin(op)
}

// poolPlusChain is the chain's UTXO set plus the outputs of pool
// transactions, as the next block would see them.
type poolPlusChain struct {
	chainView
	pool map[wire.Hash]*Entry
	next uint64
}

func (v poolPlusChain) Coin(op wire.OutPoint) (wire.Coin, bool, error) {
	if e, ok := v.pool[op.TxID]; ok {
		if int(op.Index) >= len(e.Tx.Outputs) {
			return wire.Coin{}, false, nil
		}
		o := e.Tx.Outputs[op.Index]
		return wire.Coin{Amount: o.Amount, PKH: o.PKH, Height: v.next}, true, nil
	}
	return v.chainView.Coin(op)
}

func (m *propModel) sigsOK(tx *wire.Tx, txid wire.Hash) error {
	if m.verified[txid] {
		return nil
	}
	if err := consensus.CheckTxSignatures(tx, txid, m.f.p.NetworkID, nil); err != nil {
		return err
	}
	m.verified[txid] = true
	return nil
}

// check verifies the invariants: every pool tx is valid against chain plus
// pool with its recorded fee, no outpoint is spent twice, the indexes
// agree, and the template is a valid block on the tip.
func (m *propModel) check() {
	t, f := m.t, m.f
	checkPoolInternals(t, f.pool)
	f.pool.mu.RLock()
	entries := f.pool.sortedBySeq()
	snapshot := make(map[wire.Hash]*Entry, len(entries))
	for _, e := range entries {
		snapshot[e.TxID] = e
	}
	f.pool.mu.RUnlock()
	tip := f.c.Tip()
	next := tip.Height + 1
	view := poolPlusChain{chainView{t, f.c}, snapshot, next}
	spent := make(map[wire.OutPoint]wire.Hash)
	for _, e := range entries {
		if e.TxID != e.Tx.TxID() || e.Size != e.Tx.SerializeSize() {
			t.Fatalf("entry %s has wrong txid or size", e.TxID)
		}
		if e.Tx.LockTime > next {
			t.Fatalf("pool tx %s not final at %d", e.TxID, next)
		}
		fee, err := consensus.CheckTxInputs(e.Tx, e.TxID, next, view, f.p)
		if err != nil {
			t.Fatalf("pool tx %s invalid against chain + pool: %v", e.TxID, err)
		}
		if fee != e.Fee {
			t.Fatalf("pool tx %s fee %d, entry says %d", e.TxID, fee, e.Fee)
		}
		if err := m.sigsOK(e.Tx, e.TxID); err != nil {
			t.Fatalf("pool tx %s: %v", e.TxID, err)
		}
		for _, in := range e.Tx.Inputs {
			if other, dup := spent[in.Prev]; dup {
				t.Fatalf("%s and %s both spend %v", other, e.TxID, in.Prev)
			}
			spent[in.Prev] = e.TxID
		}
	}

	tmpl := f.pool.NewTemplate(f.g.PKH, m.templateNow(), 0)
	checkDepends(t, tmpl)
	b := tmpl.Block()
	txids := b.TxIDs()
	if err := consensus.CheckHeaderContext(&b.Header, consensus.Parent{Height: tip.Height, Time: tip.Header.Time, MedianTime: tip.MedianTime}, f.p, chainNow(f.p).Unix()); err != nil {
		t.Fatalf("template header: %v", err)
	}
	if err := consensus.CheckBlockSanity(b, txids, next, f.p); err != nil {
		t.Fatalf("template block: %v", err)
	}
	if _, err := consensus.CheckBlockConnect(b, txids, next, chainView{t, f.c}, f.p); err != nil {
		t.Fatalf("template block against the chain: %v", err)
	}
	for i := 1; i < len(b.Txs); i++ {
		if err := m.sigsOK(b.Txs[i], txids[i]); err != nil {
			t.Fatalf("template tx: %v", err)
		}
	}
	if len(tmpl.Txs) != len(entries) && b.SerializeSize() < f.p.MaxBlockBytes/2 {
		t.Fatalf("template took %d of %d pool txs in a half-empty block", len(tmpl.Txs), len(entries))
	}
}

// checkNotLost resubmits transactions that were in the pool or in
// disconnected blocks before a chain change and are no longer in the pool:
// none may be accepted now, or the pool dropped a valid transaction.
func (m *propModel) checkNotLost(before []*wire.Tx) {
	txs := append([]*wire.Tx(nil), before...)
	for _, ev := range m.events {
		if ev.Kind == chain.BlockDisconnected {
			txs = append(txs, ev.Block.Txs[1:]...)
		}
	}
	m.events = nil
	for _, tx := range txs {
		if m.f.pool.Has(tx.TxID()) {
			continue
		}
		if _, err := m.f.pool.Accept(tx, "recheck"); err == nil {
			m.t.Fatalf("tx %s was valid but not in the pool after a chain change", tx.TxID())
		}
	}
}

// TestPropertyRandomOps runs a seeded random sequence of submissions
// (valid, double spends, chains, orphans, low fees, immature spends),
// template blocks, competing branches with double spends and reorgs back,
// checking the invariants after every step.
func TestPropertyRandomOps(t *testing.T) {
	steps := 800
	if raceEnabled || testing.Short() {
		steps = 200
	}
	f := newFixture(t, 30)
	m := &propModel{t: t, f: f, rng: rand.New(rand.NewPCG(2026, 11)), amounts: make(map[wire.OutPoint]uint64),
		verified: make(map[wire.Hash]bool), counts: make(map[string]int)}
	for _, s := range f.coins {
		m.outs = append(m.outs, s.Out)
		m.amounts[s.Out] = s.Amount
	}
	f.c.Subscribe(func(ev []chain.Event) { m.events = append(m.events, ev...) })
	for step := 0; step < steps; step++ {
		r := m.rng.IntN(100)
		var before []*wire.Tx
		if r >= 70 {
			for _, id := range f.pool.TxIDs() {
				if e, ok := f.pool.Get(id); ok {
					before = append(before, e.Tx)
				}
			}
		}
		switch {
		case r < 62:
			m.opAccept()
		case r < 70:
			m.opOrphanPair()
		case r < 82:
			m.opMineTemplate()
		case r < 86:
			m.opConflictBlock()
		case r < 94:
			m.opCompete()
		default:
			m.opReorgBack()
		}
		if r >= 70 {
			m.checkNotLost(before)
		}
		m.events = nil
		m.check()
	}
	t.Logf("%d steps, tip %d, pool %d txs, %d orphans: %v", steps, f.c.Tip().Height, f.pool.Stats().Count, f.pool.OrphanCount(), m.counts)
	for _, k := range []string{"accepted", "templates mined", "competing reorgs", "double spends mined", "reorgs back", "conflicting blocks", "replacements", "orphan pairs"} {
		if m.counts[k] == 0 {
			t.Errorf("the sequence never exercised %q", k)
		}
	}
}
