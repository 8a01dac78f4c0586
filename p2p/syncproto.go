package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"tally/chain"
	"tally/wire"
)

// Sync protocol timing and size bounds (docs/p2p.md, "Sync protocol").
const (
	// requestReadTimeout bounds reading a request on an inbound stream.
	requestReadTimeout = 10 * time.Second
	// responseWriteTimeout bounds writing a whole response.
	responseWriteTimeout = 60 * time.Second
	// maxBlocksResponse bounds the bytes of one getblocks response; at
	// least one block is always sent.
	maxBlocksResponse = 8 << 20
	// statusTimeout and headersTimeout bound a client's exchange.
	statusTimeout  = 10 * time.Second
	headersTimeout = 20 * time.Second
)

// handleSync serves one request on an inbound sync stream: status,
// getheaders or getblocks. Bytes that break the protocol close the stream
// and cost the peer penaltyGarbage points.
func (n *Node) handleSync(s network.Stream) {
	p := s.Conn().RemotePeer()
	defer s.Close()
	stop := n.clock.AfterFunc(requestReadTimeout, func() { s.Reset() })
	typ, payload, err := readFrame(s, n.maxSyncRequestFrame())
	stop()
	if err != nil {
		n.streamError(p, s, err, "read sync request")
		return
	}
	stop = n.clock.AfterFunc(responseWriteTimeout, func() { s.Reset() })
	defer stop()
	w := bufio.NewWriterSize(s, 64<<10)
	if err := n.serveRequest(p, typ, payload, w); err != nil {
		n.streamError(p, s, err, "sync request")
	}
}

// maxSyncRequestFrame bounds any request frame on an inbound sync stream.
func (n *Node) maxSyncRequestFrame() int { return max(maxRequestFrame, n.maxGetBlockTxnFrame()) }

// errRefused: a request we do not answer (a status for another network);
// the peer was already penalized.
var errRefused = errors.New("request refused")

// errUnrequested: a peer answered with a block we did not ask for (a
// protocol violation, penalized less than garbage bytes).
var errUnrequested = fmt.Errorf("%w: unrequested block", errGarbage)

// serveRequest answers one request frame from p on w. A garbage error
// means the request broke the protocol.
func (n *Node) serveRequest(p peer.ID, typ byte, payload []byte, w *bufio.Writer) error {
	switch typ {
	case msgStatus:
		st, err := decodeStatus(payload)
		if err != nil {
			return err
		}
		if !n.onStatus(p, st) {
			return errRefused
		}
		if err := writeFrame(w, msgStatus, encodeStatus(n.ourStatus())); err != nil {
			return err
		}
		return w.Flush()
	case msgGetHeaders:
		g, err := decodeGetHeaders(payload)
		if err != nil {
			return err
		}
		hs := n.chain.LocateHeaders(g.Locator, MaxHeadersPerMsg)
		if !g.Stop.IsZero() {
			for i := range hs {
				if hs[i].BlockID() == g.Stop {
					hs = hs[:i+1]
					break
				}
			}
		}
		n.stats.headersServed.Add(uint64(len(hs)))
		if err := writeFrame(w, msgHeaders, encodeHeaders(hs)); err != nil {
			return err
		}
		return w.Flush()
	case msgGetBlocks:
		ids, err := decodeGetBlocks(payload)
		if err != nil {
			return err
		}
		return n.serveBlocks(w, ids)
	case msgGetBlockTxn:
		return n.serveBlockTxn(w, payload)
	default:
		return garbage("unknown request type %#x", typ)
	}
}

// serveBlocks writes the requested blocks in order (notfound for the ones
// we lack) until maxBlocksResponse bytes, then done.
func (n *Node) serveBlocks(w *bufio.Writer, ids []wire.Hash) error {
	sent := 0
	for _, id := range ids {
		b, err := n.chain.Block(id)
		if err != nil {
			if !errors.Is(err, chain.ErrNotFound) && !errors.Is(err, chain.ErrPruned) {
				n.log.Error("read block to serve", "id", id, "err", err)
			}
			if err := writeFrame(w, msgNotFound, id[:]); err != nil {
				return err
			}
			continue
		}
		enc := b.Encode()
		if sent > 0 && sent+len(enc) > maxBlocksResponse {
			break
		}
		if err := writeFrame(w, msgBlock, enc); err != nil {
			return err
		}
		sent += len(enc)
		n.stats.blocksServed.Add(1)
	}
	if err := writeFrame(w, msgDone, nil); err != nil {
		return err
	}
	return w.Flush()
}

// streamError closes a stream after a failed exchange; protocol
// violations also cost the peer points.
func (n *Node) streamError(p peer.ID, s network.Stream, err error, what string) {
	s.Reset()
	if errors.Is(err, errUnrequested) {
		n.stats.garbage.Add(1)
		n.misbehave(p, penaltyUnrequested, what+": "+err.Error())
		return
	}
	if errors.Is(err, errGarbage) {
		n.stats.garbage.Add(1)
		n.misbehave(p, penaltyGarbage, what+": "+err.Error())
		return
	}
	n.log.Debug("sync stream failed", "peer", p, "what", what, "err", err)
}

// onStatus records a peer's status. A status for another genesis gets the
// peer banned (it is on another network). It wakes the syncer when the
// peer claims more work than our tip (a claim the syncer checks before it
// trusts it). It reports whether the status was acceptable.
func (n *Node) onStatus(p peer.ID, st status) bool {
	if st.Genesis != n.p.GenesisID {
		n.misbehave(p, penaltyBadStatus, "status for genesis "+st.Genesis.String())
		return false
	}
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil {
		ps.height, ps.tip, ps.work, ps.statusAt, ps.speaks = st.Height, st.Tip, st.Work, n.clock.Now(), true
	}
	n.mu.Unlock()
	if info, ok := n.chain.BlockInfo(st.Tip); ok && !info.Invalid {
		n.noteProved(p, info.Work) // its tip is a block we know: that work is real
	}
	if st.Work.Cmp(n.chain.Tip().Work) > 0 {
		n.sync.wake()
	}
	return true
}

// openRequest opens a sync stream to a connected peer (it never dials),
// sends one request and closes its write side.
func (n *Node) openRequest(ctx context.Context, p peer.ID, typ byte, payload []byte) (network.Stream, error) {
	if n.host == nil {
		// A node core without a network (fuzz targets): the request fails
		// as it would with a peer that is gone.
		return nil, errors.New("no network")
	}
	raw, err := n.host.NewStream(network.WithNoDial(ctx, "sync request"), p, n.syncProto)
	if err != nil {
		return nil, err
	}
	// Cancelling ctx (its clock timeout included) aborts a read or write in progress.
	stop := context.AfterFunc(ctx, func() { raw.Reset() })
	s := &ctxStream{Stream: raw, stop: stop}
	if err := writeFrame(s, typ, payload); err != nil {
		s.Reset()
		return nil, err
	}
	_ = s.CloseWrite()
	return s, nil
}

// ctxStream is a stream reset when its request's context ends; Close and
// Reset release that hook.
type ctxStream struct {
	network.Stream
	stop func() bool
}

func (s *ctxStream) Close() error {
	s.stop()
	return s.Stream.Close()
}

func (s *ctxStream) Reset() error {
	s.stop()
	return s.Stream.Reset()
}

// exchangeStatus sends our status to a peer and records its answer. It
// reports whether the peer answered.
func (n *Node) exchangeStatus(ctx context.Context, p peer.ID) bool {
	ctx, cancel := withTimeout(ctx, n.clock, statusTimeout)
	defer cancel()
	st, err := n.requestStatus(ctx, p)
	if err != nil {
		n.log.Debug("status exchange failed", "peer", p, "err", err)
		return false
	}
	return n.onStatus(p, st)
}

func (n *Node) requestStatus(ctx context.Context, p peer.ID) (status, error) {
	s, err := n.openRequest(ctx, p, msgStatus, encodeStatus(n.ourStatus()))
	if err != nil {
		return status{}, err
	}
	defer s.Close()
	typ, payload, err := readFrame(s, 1+statusSize)
	if err == nil && typ != msgStatus {
		err = garbage("answer type %#x to a status", typ)
	}
	var st status
	if err == nil {
		st, err = decodeStatus(payload)
	}
	if err != nil {
		n.streamError(p, s, err, "status answer")
		return status{}, err
	}
	return st, nil
}

// requestHeaders asks a peer for the headers after a locator.
func (n *Node) requestHeaders(ctx context.Context, p peer.ID, locator []wire.Hash, timeout time.Duration) ([]wire.Header, error) {
	ctx, cancel := withTimeout(ctx, n.clock, timeout)
	defer cancel()
	s, err := n.openRequest(ctx, p, msgGetHeaders, encodeGetHeaders(getHeaders{Locator: locator}))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	typ, payload, err := readFrame(s, maxHeadersFrame)
	if err == nil && typ != msgHeaders {
		err = garbage("answer type %#x to getheaders", typ)
	}
	var hs []wire.Header
	if err == nil {
		hs, err = decodeHeaders(payload)
	}
	if err != nil {
		n.streamError(p, s, err, "headers answer")
		return nil, err
	}
	return hs, nil
}

// blocksAnswer is a peer's answer to getblocks, aligned with the request:
// a block, or notFound, or neither (not sent within the byte bound).
type blocksAnswer struct {
	blocks   []*wire.Block
	notFound []bool
}

// requestBlocks asks a peer for blocks by id. got, if set, is called
// with each block as soon as it arrived (the caller can start connecting
// it while the rest is on its way).
func (n *Node) requestBlocks(ctx context.Context, p peer.ID, ids []wire.Hash, got func(k int, b *wire.Block)) (blocksAnswer, error) {
	s, err := n.openRequest(ctx, p, msgGetBlocks, encodeGetBlocks(ids))
	if err != nil {
		return blocksAnswer{blocks: make([]*wire.Block, len(ids)), notFound: make([]bool, len(ids))}, err
	}
	defer s.Close()
	ans, err := n.readBlocks(bufio.NewReaderSize(s, 64<<10), p, ids, got)
	if err != nil {
		n.streamError(p, s, err, "blocks answer")
	}
	return ans, err
}

// readBlocks reads the answer to getblocks ids from r. A block that is
// not the one asked for at its position is a protocol violation.
func (n *Node) readBlocks(r io.Reader, p peer.ID, ids []wire.Hash, got func(k int, b *wire.Block)) (blocksAnswer, error) {
	ans := blocksAnswer{blocks: make([]*wire.Block, len(ids)), notFound: make([]bool, len(ids))}
	for k := 0; ; k++ {
		typ, payload, err := readFrame(r, 1+n.p.MaxBlockBytes)
		if err == nil && k >= len(ids) && typ != msgDone {
			err = garbage("more answers than ids asked")
		}
		if err != nil {
			return ans, err
		}
		switch typ {
		case msgDone:
			return ans, nil
		case msgNotFound:
			if len(payload) != 32 || wire.Hash(payload) != ids[k] {
				return ans, garbage("notfound for an id not asked at position %d", k)
			}
			ans.notFound[k] = true
		case msgBlock:
			b, err := wire.DecodeBlock(payload)
			if err != nil {
				return ans, garbage("block: %v", err)
			}
			if id := b.BlockID(); id != ids[k] {
				return ans, fmt.Errorf("%w: sent block %s, asked %s", errUnrequested, id, ids[k])
			}
			ans.blocks[k] = b
			if got != nil {
				got(k, b)
			}
		default:
			return ans, garbage("answer type %#x to getblocks", typ)
		}
	}
}
