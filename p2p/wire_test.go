package p2p

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"testing"

	"tally/internal/testgen"
	"tally/wire"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, msgGetBlocks, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := writeFrame(&buf, msgDone, nil); err != nil {
		t.Fatal(err)
	}
	want := []byte{4, 0, 0, 0, msgGetBlocks, 1, 2, 3, 1, 0, 0, 0, msgDone}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("frames % x, want % x", buf.Bytes(), want)
	}
	typ, p, err := readFrame(&buf, 10)
	if err != nil || typ != msgGetBlocks || !bytes.Equal(p, []byte{1, 2, 3}) {
		t.Fatalf("first frame: %x %x %v", typ, p, err)
	}
	typ, p, err = readFrame(&buf, 10)
	if err != nil || typ != msgDone || len(p) != 0 {
		t.Fatalf("second frame: %x %x %v", typ, p, err)
	}
	if _, _, err := readFrame(&buf, 10); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameLimits(t *testing.T) {
	for name, in := range map[string][]byte{
		"zero length":     {0, 0, 0, 0},
		"over the limit":  {11, 0, 0, 0, 1},
		"huge":            {0xff, 0xff, 0xff, 0xff, 1},
		"truncated len":   {5, 0},
		"truncated frame": {5, 0, 0, 0, 1, 2},
	} {
		if _, _, err := readFrame(bytes.NewReader(in), 10); !errors.Is(err, errGarbage) {
			t.Errorf("%s: %v, want a protocol violation", name, err)
		}
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	st := status{Genesis: wire.H([]byte("g")), Height: 77, Tip: wire.H([]byte("t")), Work: big.NewInt(123456789)}
	got, err := decodeStatus(encodeStatus(st))
	if err != nil || got.Genesis != st.Genesis || got.Height != 77 || got.Tip != st.Tip || got.Work.Cmp(st.Work) != 0 {
		t.Fatalf("status: %+v %v", got, err)
	}
	gh := getHeaders{Locator: []wire.Hash{wire.H([]byte("a")), wire.H([]byte("b"))}, Stop: wire.H([]byte("s"))}
	gh2, err := decodeGetHeaders(encodeGetHeaders(gh))
	if err != nil || len(gh2.Locator) != 2 || gh2.Locator[1] != gh.Locator[1] || gh2.Stop != gh.Stop {
		t.Fatalf("getheaders: %+v %v", gh2, err)
	}
	g := testgen.New(devParams)
	blocks := buildChain(g, 3)
	hs := []wire.Header{blocks[0].Header, blocks[1].Header, blocks[2].Header}
	hs2, err := decodeHeaders(encodeHeaders(hs))
	if err != nil || len(hs2) != 3 || hs2[2] != hs[2] {
		t.Fatalf("headers: %v", err)
	}
	ids := []wire.Hash{blocks[0].BlockID(), blocks[2].BlockID()}
	ids2, err := decodeGetBlocks(encodeGetBlocks(ids))
	if err != nil || len(ids2) != 2 || ids2[1] != ids[1] {
		t.Fatalf("getblocks: %v", err)
	}
}

func TestMessagesRefuseBadInput(t *testing.T) {
	tooMany := binary.AppendUvarint(nil, MaxHeadersPerMsg+1)
	cases := map[string]func() error{
		"short status":          func() error { _, err := decodeStatus(make([]byte, statusSize-1)); return err },
		"empty locator":         func() error { _, err := decodeGetHeaders(append([]byte{0}, make([]byte, 32)...)); return err },
		"locator too long":      func() error { _, err := decodeGetHeaders(binary.AppendUvarint(nil, MaxLocatorIDs+1)); return err },
		"locator short":         func() error { _, err := decodeGetHeaders(append([]byte{2}, make([]byte, 40)...)); return err },
		"non-minimal count":     func() error { _, err := decodeGetBlocks([]byte{0x81, 0x00}); return err },
		"too many headers":      func() error { _, err := decodeHeaders(tooMany); return err },
		"header bytes short":    func() error { _, err := decodeHeaders(append([]byte{1}, make([]byte, 87)...)); return err },
		"getblocks empty":       func() error { _, err := decodeGetBlocks([]byte{0}); return err },
		"getblocks trailing":    func() error { _, err := decodeGetBlocks(append([]byte{1}, make([]byte, 33)...)); return err },
		"getblocks over bound":  func() error { _, err := decodeGetBlocks(binary.AppendUvarint(nil, MaxBlocksPerRequest+1)); return err },
		"getblocks ids missing": func() error { _, err := decodeGetBlocks(append([]byte{3}, make([]byte, 64)...)); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, errGarbage) {
			t.Errorf("%s: %v, want a protocol violation", name, err)
		}
	}
}

// FuzzSyncMessages feeds arbitrary bytes to every sync message decoder:
// none may panic, and what decodes re-encodes to the same bytes.
func FuzzSyncMessages(f *testing.F) {
	f.Add(encodeStatus(status{Work: big.NewInt(5)}))
	f.Add(encodeGetHeaders(getHeaders{Locator: []wire.Hash{{1}}}))
	f.Add(encodeGetBlocks([]wire.Hash{{1}, {2}}))
	f.Add(encodeHeaders([]wire.Header{{Version: 1}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeStatus(b); err == nil && !bytes.Equal(encodeStatus(s), b) {
			t.Fatal("status does not round-trip")
		}
		if g, err := decodeGetHeaders(b); err == nil && !bytes.Equal(encodeGetHeaders(g), b) {
			t.Fatal("getheaders does not round-trip")
		}
		if ids, err := decodeGetBlocks(b); err == nil && !bytes.Equal(encodeGetBlocks(ids), b) {
			t.Fatal("getblocks does not round-trip")
		}
		if hs, err := decodeHeaders(b); err == nil && !bytes.Equal(encodeHeaders(hs), b) {
			t.Fatal("headers do not round-trip")
		}
		r := bytes.NewReader(b)
		for {
			if _, _, err := readFrame(r, 1<<16); err != nil {
				break
			}
		}
	})
}
