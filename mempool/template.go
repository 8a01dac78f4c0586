package mempool

import (
	"encoding/binary"
	"sort"
	"time"

	"tally/chain"
	"tally/consensus"
	"tally/wire"
)

// Template is a block to mine: header fields, the coinbase and the chosen
// transactions in an order that respects dependencies.
type Template struct {
	Header   wire.Header // Merkle root and nonce left for the miner
	Height   uint64
	Coinbase *wire.Tx
	Txs      []TemplateTx
	Fees     uint64
	// CoinbaseValue is subsidy plus fees.
	CoinbaseValue uint64
	MinTime       uint64
	SizeLimit     int
}

// TemplateTx is a chosen transaction with its fee and the indexes (in
// Txs, 0-based) of the template transactions it depends on.
type TemplateTx struct {
	Tx      *wire.Tx
	TxID    wire.Hash
	Fee     uint64
	Depends []int
}

// Block assembles the template into a block with the given nonce; the
// caller solves the header afterwards.
func (t *Template) Block() *wire.Block {
	b := &wire.Block{Header: t.Header, Txs: make([]*wire.Tx, 0, len(t.Txs)+1)}
	b.Txs = append(b.Txs, t.Coinbase)
	for _, tx := range t.Txs {
		b.Txs = append(b.Txs, tx.Tx)
	}
	b.Header.MerkleRoot = wire.MerkleRoot(b.TxIDs())
	return b
}

// templateWait bounds how long NewTemplate waits for the pool to catch up
// with the chain's tip. Events are delivered right after each commit, so
// the wait is normally a few milliseconds; only a stuck subscriber makes
// it run out, and then the template carries the coinbase alone.
const templateWait = 2 * time.Second

// NewTemplate builds a block template on the current tip paying subsidy
// plus fees to pkh. It picks packages (a transaction with its unconfirmed
// ancestors not yet chosen) by their combined fee rate, highest first,
// within the block size limit. If the pool has not yet handled the chain's
// events for the tip, it waits for them (up to templateWait), so that a
// template is not left empty while events are on their way. When subsidy
// plus fees is 0 the coinbase has no outputs (SPEC section 2).
func (p *Pool) NewTemplate(pkh [20]byte, now time.Time, extraNonce uint64) *Template {
	tip := p.waitTip()
	params := p.p
	height := tip.Height + 1
	t := &Template{Height: height, MinTime: tip.MedianTime + 1, SizeLimit: params.MaxBlockBytes}
	hdrTime := uint64(max(now.Unix(), 0))
	if hdrTime < t.MinTime {
		hdrTime = t.MinTime
	}
	t.Header = wire.Header{Version: 1, PrevBlock: tip.ID, Time: hdrTime, Bits: consensus.NextBits(params, tip.Height, tip.Header.Time)}

	// The free coinbase data is the extra nonce (u64) a miner varies.
	extra := consensus.CoinbaseExtra(height, binary.LittleEndian.AppendUint64(nil, extraNonce))
	cb := &wire.Tx{Version: 1, Outputs: []wire.TxOut{{PKH: pkh}}, Extra: extra}
	// Room for the header, a 5-byte transaction count and the coinbase
	// (whose amount has a fixed width).
	room := params.MaxBlockBytes - wire.HeaderSize - 5 - cb.SerializeSize()

	p.mu.RLock()
	// The pool's entries are only valid on the tip the pool has caught
	// up with: a block the chain connected but whose events the pool has
	// not handled yet may have mined some of them. Until then the
	// template carries the coinbase alone.
	if p.tip == tip.ID {
		p.selectTxs(t, room)
	}
	p.mu.RUnlock()

	t.CoinbaseValue = consensus.Subsidy(params, height) + t.Fees
	if t.CoinbaseValue == 0 {
		cb.Outputs = nil
	} else {
		cb.Outputs[0].Amount = t.CoinbaseValue
	}
	t.Coinbase = cb
	return t
}

// waitTip returns the chain's tip once the pool has caught up with it, or
// the chain's tip as it is after templateWait.
func (p *Pool) waitTip() *chain.Snapshot {
	deadline := time.NewTimer(templateWait)
	defer deadline.Stop()
	for {
		tip := p.cfg.Chain.Tip()
		p.mu.RLock()
		caught, moved := p.tip == tip.ID, p.tipMoved
		p.mu.RUnlock()
		if caught {
			return tip
		}
		select {
		case <-moved:
		case <-deadline.C:
			return p.cfg.Chain.Tip()
		}
	}
}

// tmplState is a pool entry's state while a template is assembled.
type tmplState struct {
	gen  uint32 // bumped when the entry's package changes
	in   bool   // in the template
	pos  int    // index in Template.Txs when in
	mark uint32 // visit stamp for walks
}

// tmplItem is a heap entry: an entry's package score as of generation gen.
// It copies the entry's arrival order so that comparisons stay in the heap.
type tmplItem struct {
	score float64
	seq   uint64
	e     *Entry
	st    *tmplState
	gen   uint32
}

func (a *tmplItem) better(b *tmplItem) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.seq < b.seq
}

// tmplHeap is a max-heap of package scores.
type tmplHeap []tmplItem

func (h tmplHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		best := l
		if r := l + 1; r < len(h) && h[r].better(&h[l]) {
			best = r
		}
		if !h[best].better(&h[i]) {
			return
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
}

func (h *tmplHeap) push(it tmplItem) {
	*h = append(*h, it)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s[i].better(&s[parent]) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *tmplHeap) pop() tmplItem {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	if last > 0 {
		(*h).down(0)
	}
	return top
}

// tmplBuilder selects transactions for a template. The caller holds p.mu,
// so the entries' positions (Entry.idx) index states.
type tmplBuilder struct {
	states []tmplState
	stamp  uint32
	stack  []*Entry
	pkg    []*Entry
}

// pkgOf collects e and its ancestors not yet in the template into b.pkg
// and returns their total fee and size. Ancestors of an entry in the
// template are in it too, so the walk stops there.
func (b *tmplBuilder) pkgOf(e *Entry) (fee uint64, size int) {
	b.pkg = append(b.pkg[:0], e)
	if len(e.parents) == 0 {
		return e.Fee, e.Size
	}
	b.stamp++
	b.states[e.idx].mark = b.stamp
	fee, size = e.Fee, e.Size
	b.stack = append(b.stack[:0], e)
	for len(b.stack) > 0 {
		x := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		for _, pe := range x.parents {
			st := &b.states[pe.idx]
			if st.in || st.mark == b.stamp {
				continue
			}
			st.mark = b.stamp
			b.pkg = append(b.pkg, pe)
			fee += pe.Fee
			size += pe.Size
			b.stack = append(b.stack, pe)
		}
	}
	return fee, size
}

// selectTxs fills t with the best packages by fee rate (a transaction
// with its ancestors not yet chosen) within room bytes. After a package
// goes in, the descendants of its members are scored again on what they
// still add, so a low-fee child does not ride on a parent already chosen.
func (p *Pool) selectTxs(t *Template, room int) {
	b := &tmplBuilder{states: make([]tmplState, len(p.known))}
	h := make(tmplHeap, 0, len(p.known))
	var withParents []tmplItem
	for i, k := range p.known {
		e := k.e
		it := tmplItem{seq: e.seq, e: e, st: &b.states[i]}
		if len(e.parents) == 0 {
			it.score = float64(e.Fee) / float64(e.Size)
			h = append(h, it)
		} else {
			withParents = append(withParents, it)
		}
	}
	for _, it := range withParents {
		fee, size := b.pkgOf(it.e)
		it.score = float64(fee) / float64(size)
		h = append(h, it)
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	used, failures := 0, 0
	var changed []*Entry
	for len(h) > 0 {
		it := h.pop()
		if it.st.in || it.gen != it.st.gen {
			continue
		}
		_, size := b.pkgOf(it.e)
		if used+size > room {
			failures++
			if failures > 1000 || room-used < 200 {
				break
			}
			continue
		}
		pkg := b.pkg
		sort.Slice(pkg, func(i, j int) bool { return pkg[i].seq < pkg[j].seq })
		for _, e := range pkg {
			st := &b.states[e.idx]
			tt := TemplateTx{Tx: e.Tx, TxID: e.TxID, Fee: e.Fee}
			for _, pe := range e.parents {
				tt.Depends = append(tt.Depends, b.states[pe.idx].pos)
			}
			sort.Ints(tt.Depends)
			st.in, st.pos = true, len(t.Txs)
			t.Txs = append(t.Txs, tt)
			t.Fees += e.Fee
		}
		used += size
		// Rescore the descendants still out of the template.
		b.stamp++
		changed = append(changed[:0], pkg...)
		n := len(changed)
		for k := 0; k < len(changed); k++ {
			for _, c := range changed[k].children {
				st := &b.states[c.idx]
				if st.in || st.mark == b.stamp {
					continue
				}
				st.mark = b.stamp
				changed = append(changed, c)
			}
		}
		for _, c := range changed[n:] {
			st := &b.states[c.idx]
			st.gen++
			fee, size := b.pkgOf(c)
			h.push(tmplItem{score: float64(fee) / float64(size), seq: c.seq, e: c, st: st, gen: st.gen})
		}
	}
}
