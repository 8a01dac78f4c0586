package mempool

import (
	"sort"
	"time"

	"tally/chain"
	"tally/consensus"
)

// Template is a block to mine: header fields, the coinbase and the chosen
// transactions in an order that respects dependencies.
type Template struct {
	Header   chain.Header // Merkle root and nonce left for the miner
	Height   uint64
	Coinbase *chain.Tx
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
	Tx      *chain.Tx
	TxID    chain.Hash
	Fee     uint64
	Depends []int
}

// Block assembles the template into a block with the given nonce; the
// caller solves the header afterwards.
func (t *Template) Block() *chain.Block {
	b := &chain.Block{Header: t.Header, Txs: make([]*chain.Tx, 0, len(t.Txs)+1)}
	b.Txs = append(b.Txs, t.Coinbase)
	for _, tx := range t.Txs {
		b.Txs = append(b.Txs, tx.Tx)
	}
	b.Header.MerkleRoot = chain.MerkleRoot(b.TxIDs())
	return b
}

// coinbaseExtraFree is free coinbase data a miner can vary (extra nonce).
const coinbaseExtraFree = 8

// NewTemplate builds a block template on the current tip paying subsidy
// plus fees to pkh. It picks packages (a transaction with its unconfirmed
// ancestors) by their combined fee rate, highest first, within the block
// size limit.
func (p *Pool) NewTemplate(pkh [20]byte, now time.Time, extraNonce uint64) *Template {
	tip := p.cfg.Chain.Tip()
	params := p.p
	height := tip.Height + 1
	t := &Template{Height: height, MinTime: tip.MedianTime + 1, SizeLimit: params.MaxBlockBytes}
	hdrTime := uint64(max(now.Unix(), 0))
	if hdrTime < t.MinTime {
		hdrTime = t.MinTime
	}
	t.Header = chain.Header{Version: 1, PrevBlock: tip.ID, Time: hdrTime, Bits: consensus.NextBits(params, tip.Height, tip.Header.Time)}

	extra := make([]byte, 8+coinbaseExtraFree)
	for i := 0; i < 8; i++ {
		extra[i] = byte(height >> (8 * i))
		extra[8+i] = byte(extraNonce >> (8 * i))
	}
	cb := &chain.Tx{Version: 1, Outputs: []chain.TxOut{{PKH: pkh}}, Extra: extra}
	// Room for the header, a 5-byte transaction count and the coinbase
	// (whose amount has a fixed width).
	room := params.MaxBlockBytes - chain.HeaderSize - 5 - cb.SerializeSize()

	p.mu.RLock()
	type cand struct {
		e     *Entry
		anc   map[chain.Hash]*Entry
		score float64
	}
	cands := make([]cand, 0, len(p.entries))
	for _, e := range p.entries {
		anc := ancestors(e.parents)
		fee, size := e.Fee, e.Size
		for _, a := range anc {
			fee += a.Fee
			size += a.Size
		}
		cands = append(cands, cand{e, anc, float64(fee) / float64(size)})
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		return cands[i].e.seq < cands[j].e.seq
	})
	pos := make(map[chain.Hash]int)
	used, failures := 0, 0
	for _, c := range cands {
		if _, done := pos[c.e.TxID]; done {
			continue
		}
		pkg := []*Entry{c.e}
		size := c.e.Size
		for _, a := range c.anc {
			if _, done := pos[a.TxID]; !done {
				pkg = append(pkg, a)
				size += a.Size
			}
		}
		if used+size > room {
			failures++
			if failures > 1000 || room-used < 200 {
				break
			}
			continue
		}
		sort.Slice(pkg, func(i, j int) bool { return pkg[i].seq < pkg[j].seq })
		for _, e := range pkg {
			tt := TemplateTx{Tx: e.Tx, TxID: e.TxID, Fee: e.Fee}
			for pid := range e.parents {
				tt.Depends = append(tt.Depends, pos[pid])
			}
			sort.Ints(tt.Depends)
			pos[e.TxID] = len(t.Txs)
			t.Txs = append(t.Txs, tt)
			t.Fees += e.Fee
		}
		used += size
	}
	p.mu.RUnlock()

	t.CoinbaseValue = consensus.Subsidy(params, height) + t.Fees
	cb.Outputs[0].Amount = t.CoinbaseValue
	t.Coinbase = cb
	return t
}
