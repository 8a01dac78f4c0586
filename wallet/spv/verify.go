package spv

import (
	"errors"
	"math/big"

	"tally/consensus"
	"tally/wire"
)

// mtpWindow is the number of previous headers whose median time a header's
// time must exceed.
const mtpWindow = 11

// cursor is the end of a header chain being verified: the last header,
// its id and height, and the times of up to mtpWindow headers ending at
// it. next checks a header as its child and advances.
type cursor struct {
	params *consensus.Params
	height uint64
	id     wire.Hash
	header wire.Header
	times  [mtpWindow]uint64 // ring buffer, oldest overwritten first
	ntimes int
	pos    int
}

// newCursor returns a cursor at the genesis block of params.
func newCursor(p *consensus.Params) *cursor {
	c := &cursor{params: p, id: p.GenesisID, header: p.Genesis.Header}
	c.push(p.Genesis.Header.Time)
	return c
}

// cursorAt returns a cursor at height of headers (headers[i] at height i),
// whose headers were verified before.
func cursorAt(p *consensus.Params, headers []wire.Header, height uint64) *cursor {
	c := &cursor{params: p, height: height, header: headers[height]}
	c.id = c.header.BlockID()
	start := uint64(0)
	if height+1 > mtpWindow {
		start = height + 1 - mtpWindow
	}
	for h := start; h <= height; h++ {
		c.push(headers[h].Time)
	}
	return c
}

func (c *cursor) push(t uint64) {
	c.times[c.pos] = t
	c.pos = (c.pos + 1) % mtpWindow
	if c.ntimes < mtpWindow {
		c.ntimes++
	}
}

// medianTime returns the median time past of the headers ending at the
// cursor.
func (c *cursor) medianTime() uint64 {
	if c.ntimes < mtpWindow {
		// The ring has not wrapped: the times are times[0:ntimes].
		return consensus.MedianTime(c.times[:c.ntimes])
	}
	return consensus.MedianTime(c.times[:])
}

// next verifies h as the child of the cursor's header and, if it passes,
// moves the cursor to it and returns its id. now is the clock in unix
// seconds for the future-time rule, or negative to skip that rule (when
// re-verifying stored headers). The checks, cheapest first: linkage,
// version and proof of work, bits against ASERT, median time past, future
// time.
func (c *cursor) next(h *wire.Header, now int64) (wire.Hash, error) {
	height := c.height + 1
	if h.PrevBlock != c.id {
		return wire.Hash{}, heightErr(ErrBrokenLink, height, nil, "previous block %s, but the header before it is %s", h.PrevBlock, c.id)
	}
	id := h.BlockID()
	if err := consensus.CheckHeaderSanity(h, id, c.params); err != nil {
		if errors.Is(err, consensus.ErrBadVersion) {
			return wire.Hash{}, heightErr(ErrBadHeader, height, err, "block %s: %v", id, err)
		}
		return wire.Hash{}, heightErr(ErrBadPoW, height, err, "block %s: %v", id, err)
	}
	parent := consensus.Parent{Height: c.height, Time: c.header.Time, MedianTime: c.medianTime()}
	if err := consensus.CheckHeaderContext(h, parent, c.params, now); err != nil {
		// Whether the header may pass later is the kind's meaning
		// (consensus.Classify); the other cases only name the failure.
		_, m, _ := consensus.Classify(err)
		switch {
		case m.RetryLater:
			return wire.Hash{}, heightErr(ErrTimeTooNew, height, err, "block %s: %v", id, err)
		case errors.Is(err, consensus.ErrBadBits):
			return wire.Hash{}, heightErr(ErrBadDifficulty, height, err, "block %s: %v", id, err)
		case errors.Is(err, consensus.ErrTimeTooOld):
			return wire.Hash{}, heightErr(ErrBadTime, height, err, "block %s: %v", id, err)
		}
		return wire.Hash{}, heightErr(ErrBadHeader, height, err, "block %s: %v", id, err)
	}
	c.height, c.id, c.header = height, id, *h
	c.push(h.Time)
	return id, nil
}

// clone returns an independent copy of the cursor.
func (c *cursor) clone() *cursor {
	d := *c
	return &d
}

// sumWork returns the total work of headers.
func sumWork(headers []wire.Header) *big.Int {
	total := new(big.Int)
	for i := range headers {
		total.Add(total, consensus.CalcWork(headers[i].Bits))
	}
	return total
}
