package spv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"sync"

	"tally/consensus"
	"tally/wire"

	"tally/internal/atomicfile"
)

// The header file, headers.dat:
//
//	offset 0   magic "tallyhdr" (8 bytes)
//	offset 8   version u32 little-endian (1)
//	offset 12  network_id (4 bytes)
//	offset 16  genesis block id (32 bytes)
//	offset 48  header of height 0 (the genesis block), 88 bytes
//	offset 136 header of height 1, and so on
//
// The file is only appended to, except that switching to a heavier branch
// truncates it to the fork point first. Every append is followed by fsync.
const (
	storeMagic      = "tallyhdr"
	storeVersion    = 1
	storeHeaderSize = 48
)

// Store is the best header chain, in memory and (unless it is a memory
// store) in a file. Its methods are safe for concurrent use; the Client
// is its only writer.
type Store struct {
	mu       sync.RWMutex
	params   *consensus.Params
	path     string
	f        *os.File
	headers  []wire.Header
	tip      *cursor
	work     *big.Int
	repaired error
	// broken is set when a write failed half-way: the file may no longer
	// match memory, so no more writes until it is reopened (and verified).
	broken error
}

// Tip describes the end of the best header chain.
type Tip struct {
	Height uint64
	ID     wire.Hash
	Header wire.Header
	Work   *big.Int // cumulative work from the genesis block, inclusive
}

// NewMemoryStore returns a store holding only the genesis block of p,
// kept in memory only.
func NewMemoryStore(p *consensus.Params) *Store {
	return &Store{
		params:  p,
		headers: []wire.Header{p.Genesis.Header},
		tip:     newCursor(p),
		work:    consensus.CalcWork(p.GenesisBits),
	}
}

// OpenStore opens the header file at path, creating it (holding the
// genesis block) if it does not exist. It verifies every stored header
// again: a torn last record is cut off, and if a header fails
// verification the file is truncated before it (Repaired says why). A
// file of another network or another genesis block is an error
// (ErrCorruptStore, ErrWrongGenesis) and is left untouched.
func OpenStore(path string, p *consensus.Params) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening header file: %w", err)
	}
	s := NewMemoryStore(p)
	s.path, s.f = path, f
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) fileHeader() []byte {
	b := make([]byte, 0, storeHeaderSize)
	b = append(b, storeMagic...)
	b = binary.LittleEndian.AppendUint32(b, storeVersion)
	b = append(b, s.params.NetworkID[:]...)
	return append(b, s.params.GenesisID[:]...)
}

// load reads and verifies the file, or initializes an empty one.
func (s *Store) load() error {
	st, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("reading header file: %w", err)
	}
	corrupt := func(format string, args ...any) error {
		return &Error{Kind: ErrCorruptStore, Description: fmt.Sprintf("%s: ", s.path) + fmt.Sprintf(format, args...) +
			"; move it away to start the header chain again"}
	}
	if st.Size() < storeHeaderSize {
		// Empty, or a crash while it was being created: it holds no
		// header yet.
		if st.Size() > 0 {
			head := make([]byte, st.Size())
			if _, err := io.ReadFull(s.f, head); err != nil {
				return fmt.Errorf("reading header file: %w", err)
			}
			if !bytes.HasPrefix([]byte(storeMagic), head[:min(len(head), len(storeMagic))]) {
				return corrupt("not a header file")
			}
		}
		return s.rewrite()
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, st.Size()), 1<<16)
	head := make([]byte, storeHeaderSize)
	if _, err := io.ReadFull(r, head); err != nil {
		return fmt.Errorf("reading header file: %w", err)
	}
	switch {
	case string(head[:8]) != storeMagic:
		return corrupt("not a header file")
	case binary.LittleEndian.Uint32(head[8:12]) != storeVersion:
		return corrupt("header file version %d, this program reads %d", binary.LittleEndian.Uint32(head[8:12]), storeVersion)
	case !bytes.Equal(head[12:16], s.params.NetworkID[:]):
		return &Error{Kind: ErrWrongGenesis, Description: fmt.Sprintf("%s holds headers of network %x, not %s (%x)", s.path, head[12:16], s.params.Network, s.params.NetworkID)}
	case !bytes.Equal(head[16:48], s.params.GenesisID[:]):
		return &Error{Kind: ErrWrongGenesis, Description: fmt.Sprintf("%s holds headers of genesis block %x, this network's is %s", s.path, head[16:48], s.params.GenesisID)}
	}
	records := (st.Size() - storeHeaderSize) / wire.HeaderSize
	keep := int64(0)
	var rec [wire.HeaderSize]byte
	for i := int64(0); i < records; i++ {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return fmt.Errorf("reading header file: %w", err)
		}
		h, err := wire.DecodeHeader(rec[:])
		if err != nil {
			s.repaired = heightErr(ErrBadHeader, uint64(i), err, "stored header does not decode")
			break
		}
		if i == 0 {
			if h != s.params.Genesis.Header {
				s.repaired = heightErr(ErrWrongGenesis, 0, nil, "stored genesis header differs from the network's")
				break
			}
		} else if _, err := s.tip.next(&h, -1); err != nil {
			s.repaired = err
			break
		}
		keep = i + 1
		if i > 0 {
			s.headers = append(s.headers, h)
			s.work.Add(s.work, consensus.CalcWork(h.Bits))
		}
	}
	if keep == 0 {
		return s.rewrite()
	}
	if want := storeHeaderSize + keep*wire.HeaderSize; st.Size() != want {
		// A torn last record, or headers after one that failed.
		if err := s.f.Truncate(want); err != nil {
			return fmt.Errorf("truncating header file: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("syncing header file: %w", err)
		}
	}
	return nil
}

// rewrite makes the file hold the file header and the genesis block only.
func (s *Store) rewrite() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("initializing header file: %w", err)
	}
	b := append(s.fileHeader(), s.params.Genesis.Header.Encode()...)
	if _, err := s.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("initializing header file: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("syncing header file: %w", err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("syncing header file directory: %w", err)
	}
	return nil
}

// Repaired returns why OpenStore cut the stored chain short (a header
// that failed verification), or nil. A torn last record is not reported:
// it is what a crash during an append leaves.
func (s *Store) Repaired() error { return s.repaired }

// Close closes the file.
func (s *Store) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

// Tip returns the end of the best chain.
func (s *Store) Tip() Tip {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Tip{Height: s.tip.height, ID: s.tip.id, Header: s.tip.header, Work: new(big.Int).Set(s.work)}
}

// Height returns the height of the best chain's tip.
func (s *Store) Height() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tip.height
}

// Header returns the best chain's header at height.
func (s *Store) Header(height uint64) (wire.Header, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if height >= uint64(len(s.headers)) {
		return wire.Header{}, false
	}
	return s.headers[height], true
}

// cursorAt returns a cursor at height of the best chain.
func (s *Store) cursorAt(height uint64) *cursor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if height == s.tip.height {
		return s.tip.clone()
	}
	return cursorAt(s.params, s.headers, height)
}

// workAbove returns the work of the best chain's headers above height.
func (s *Store) workAbove(height uint64) *big.Int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sumWork(s.headers[height+1:])
}

// replace makes the best chain the headers up to fork followed by branch,
// verified by the caller, whose last header is at end and whose work is
// branchWork. The file is truncated to the fork point, then the branch is
// appended and synced.
func (s *Store) replace(fork uint64, branch []wire.Header, end *cursor, branchWork *big.Int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fork > s.tip.height || end.height != fork+uint64(len(branch)) {
		return errors.New("header store: branch does not fit the chain")
	}
	if s.broken != nil {
		return fmt.Errorf("header file unusable after an earlier write error (reopen it): %w", s.broken)
	}
	if s.f != nil {
		if err := s.write(fork, branch); err != nil {
			s.broken = err
			return err
		}
	}
	if fork < s.tip.height {
		s.work.Sub(s.work, sumWork(s.headers[fork+1:]))
		s.headers = s.headers[:fork+1]
	}
	s.headers = append(s.headers, branch...)
	s.work.Add(s.work, branchWork)
	s.tip = end.clone()
	return nil
}

// write truncates the file after height fork and appends branch.
func (s *Store) write(fork uint64, branch []wire.Header) error {
	off := storeHeaderSize + int64(fork+1)*wire.HeaderSize
	if fork < s.tip.height {
		if err := s.f.Truncate(off); err != nil {
			return fmt.Errorf("truncating header file: %w", err)
		}
	}
	buf := make([]byte, 0, len(branch)*wire.HeaderSize)
	for i := range branch {
		buf = append(buf, branch[i].Encode()...)
	}
	if _, err := s.f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("writing header file: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("syncing header file: %w", err)
	}
	return nil
}
