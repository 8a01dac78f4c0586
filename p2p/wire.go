package p2p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"tally/wire"
)

// The sync protocol's frames (docs/p2p.md, "Sync protocol"). A frame is
//
//	length u32 little-endian | type u8 | payload (length-1 bytes)
//
// where length counts the type byte and the payload. Counts inside payloads
// are minimal LEB128 varints, as in the consensus encoding. Every reader
// bounds the length by what the expected message types can hold before it
// allocates.
const (
	msgStatus     byte = 0x01 // status (request and response)
	msgGetHeaders byte = 0x02 // locator and stop id
	msgHeaders    byte = 0x03 // up to MaxHeadersPerMsg headers
	msgGetBlocks  byte = 0x04 // up to MaxBlocksPerRequest ids
	msgBlock      byte = 0x05 // one block's canonical encoding
	msgNotFound   byte = 0x06 // one id the server does not have
	msgDone       byte = 0x07 // end of a getblocks response
)

// Protocol bounds.
const (
	// MaxHeadersPerMsg is the most headers one headers message holds.
	MaxHeadersPerMsg = 2000
	// MaxLocatorIDs bounds a getheaders locator.
	MaxLocatorIDs = 64
	// MaxBlocksPerRequest bounds the ids of one getblocks request.
	MaxBlocksPerRequest = 128
	// statusSize is the status payload: genesis id, height, tip id, work.
	statusSize = 32 + 8 + 32 + 32
	// maxRequestFrame bounds every request frame (a getheaders with a full
	// locator is the largest).
	maxRequestFrame = 1 + 1 + MaxLocatorIDs*32 + 32 + 8
	// maxHeadersFrame bounds a headers frame.
	maxHeadersFrame = 1 + 3 + MaxHeadersPerMsg*wire.HeaderSize
)

// errGarbage is wrapped by every error caused by bytes that break the
// protocol (as opposed to a timeout or a closed stream): the sender is
// penalized for it.
var errGarbage = errors.New("protocol violation")

func garbage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errGarbage, fmt.Sprintf(format, args...))
}

// writeFrame writes one frame.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	var hdr [5]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(payload)+1))
	hdr[4] = typ
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame whose length (type byte included) is at most
// max. A length of 0 or above max is garbage; a stream that ends inside a
// frame is garbage too (io.ErrUnexpectedEOF wrapped), while one that ends
// cleanly before a frame returns io.EOF.
func readFrame(r io.Reader, max int) (byte, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, garbage("stream ended inside a frame length")
		}
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0 || uint64(n) > uint64(max) {
		return 0, nil, garbage("frame of %d bytes, limit %d", n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return 0, nil, garbage("stream ended inside a %d-byte frame", n)
		}
		return 0, nil, err
	}
	return buf[0], buf[1:], nil
}

// status is what a node tells a peer about its chain.
type status struct {
	Genesis wire.Hash
	Height  uint64
	Tip     wire.Hash
	Work    *big.Int // cumulative work of the tip
}

func encodeStatus(s status) []byte {
	b := make([]byte, statusSize)
	copy(b[0:32], s.Genesis[:])
	binary.LittleEndian.PutUint64(b[32:40], s.Height)
	copy(b[40:72], s.Tip[:])
	w := s.Work
	if w == nil || w.Sign() < 0 {
		w = new(big.Int)
	}
	if w.BitLen() > 256 { // saturate; no real chain gets here
		w = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	}
	w.FillBytes(b[72:104])
	return b
}

func decodeStatus(b []byte) (status, error) {
	var s status
	if len(b) != statusSize {
		return s, garbage("status of %d bytes, want %d", len(b), statusSize)
	}
	copy(s.Genesis[:], b[0:32])
	s.Height = binary.LittleEndian.Uint64(b[32:40])
	copy(s.Tip[:], b[40:72])
	s.Work = new(big.Int).SetBytes(b[72:104])
	return s, nil
}

// readCount reads a minimal varint no larger than max.
func readCount(b []byte, max uint64, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, garbage("bad %s varint", what)
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		return 0, nil, garbage("non-minimal %s varint", what)
	}
	if v > max {
		return 0, nil, garbage("%s %d above limit %d", what, v, max)
	}
	return v, b[n:], nil
}

func readIDs(b []byte, n uint64) ([]wire.Hash, []byte, error) {
	if uint64(len(b)) < n*32 {
		return nil, nil, garbage("%d ids need %d bytes, have %d", n, n*32, len(b))
	}
	ids := make([]wire.Hash, n)
	for i := range ids {
		copy(ids[i][:], b[i*32:])
	}
	return ids, b[n*32:], nil
}

// getHeaders asks for the headers after the first locator id on the
// server's best chain, up to Stop (zero: no stop) or MaxHeadersPerMsg.
type getHeaders struct {
	Locator []wire.Hash
	Stop    wire.Hash
}

func encodeGetHeaders(g getHeaders) []byte {
	b := binary.AppendUvarint(nil, uint64(len(g.Locator)))
	for _, id := range g.Locator {
		b = append(b, id[:]...)
	}
	return append(b, g.Stop[:]...)
}

func decodeGetHeaders(b []byte) (getHeaders, error) {
	var g getHeaders
	n, rest, err := readCount(b, MaxLocatorIDs, "locator count")
	if err != nil {
		return g, err
	}
	if n == 0 {
		return g, garbage("empty locator")
	}
	if g.Locator, rest, err = readIDs(rest, n); err != nil {
		return g, err
	}
	if len(rest) != 32 {
		return g, garbage("getheaders: %d bytes after the locator, want 32", len(rest))
	}
	copy(g.Stop[:], rest)
	return g, nil
}

func encodeHeaders(hs []wire.Header) []byte {
	b := make([]byte, 0, 3+len(hs)*wire.HeaderSize)
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for i := range hs {
		b = append(b, hs[i].Encode()...)
	}
	return b
}

func decodeHeaders(b []byte) ([]wire.Header, error) {
	n, rest, err := readCount(b, MaxHeadersPerMsg, "header count")
	if err != nil {
		return nil, err
	}
	if uint64(len(rest)) != n*wire.HeaderSize {
		return nil, garbage("%d headers need %d bytes, have %d", n, n*wire.HeaderSize, len(rest))
	}
	hs := make([]wire.Header, n)
	for i := range hs {
		hs[i], _ = wire.DecodeHeader(rest[i*wire.HeaderSize : (i+1)*wire.HeaderSize])
	}
	return hs, nil
}

func encodeGetBlocks(ids []wire.Hash) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ids)))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

func decodeGetBlocks(b []byte) ([]wire.Hash, error) {
	n, rest, err := readCount(b, MaxBlocksPerRequest, "block count")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, garbage("getblocks with no ids")
	}
	ids, rest, err := readIDs(rest, n)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, garbage("getblocks: %d trailing bytes", len(rest))
	}
	return ids, nil
}
