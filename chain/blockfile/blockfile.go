// Package blockfile stores block bodies and undo data in append-only
// numbered files of bounded size, as Bitcoin Core's blocks/blk*.dat and
// rev*.dat: LevelDB keeps only the positions, so its compactions never
// rewrite the chain.
//
// A Store is one series of files named <prefix><5 digits>.dat. Each
// record is
//
//	magic [4] | length u32 LE | CRC-32C u32 LE of (length | payload) | payload
//
// so a record torn by a crash or a power cut, or damaged on disk, is
// detected. Append returns the record's Pos, which the caller writes into
// its index; Sync makes every appended record durable, and the caller
// commits the index batch that points to them only after Sync returns.
// Records after the last Sync are therefore never referenced, and Open
// discards a torn tail of the last file instead of failing.
//
// The package leaves to its caller which records to write, which Pos
// belongs to which block, and which files pruning may remove
// (RemoveFile); it knows nothing of blocks. A Store serializes its
// writers (Append, Sync, RemoveFile) with one mutex; Read may run
// concurrently with them.
package blockfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// HeaderSize is the size of a record's header.
const HeaderSize = 12

// DefaultMaxFileSize bounds each file, as Core's 128 MiB blk files.
const DefaultMaxFileSize = 128 << 20

// maxOpenFiles bounds the file handles kept open for reading.
const maxOpenFiles = 64

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error about a damaged or foreign file
// or record.
var ErrCorrupt = errors.New("block file corrupt")

// ErrPruned is returned by Read for a record whose file was removed.
var ErrPruned = errors.New("block file pruned")

// Options configure a Store.
type Options struct {
	// Prefix names the files: "blk" gives blk00000.dat, blk00001.dat...
	Prefix string
	// Magic starts every record; a file of another network or kind fails
	// its first record's check.
	Magic [4]byte
	// MaxFileSize bounds a file; a record that would cross it starts the
	// next file. 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// NoSync skips fsync (tests only).
	NoSync bool
	// FS is the file system (default OS).
	FS FS
	// Durable, if not nil, is the End that Sync returned last as the
	// caller recorded it in the same commit as the positions it keeps.
	// Open then requires every record up to it to be intact (anything
	// else is ErrCorrupt: synced data was lost) and drops everything
	// after it, including later files. Without it Open trusts the files
	// and drops only a torn tail of the last one.
	Durable *End
}

// End is the durable extent of a Store: the file appended to and its
// size.
type End struct {
	File uint32
	Size int64
}

// Pos locates one record: its file, the offset of its header, and the
// length of its payload.
type Pos struct {
	File   uint32
	Offset uint32
	Len    uint32
}

// PosSize is the length of Pos's encoding.
const PosSize = 12

// Append appends p's encoding (file, offset, length; u32 LE each).
func (p Pos) Append(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, p.File)
	b = binary.LittleEndian.AppendUint32(b, p.Offset)
	return binary.LittleEndian.AppendUint32(b, p.Len)
}

// DecodePos decodes a Pos written by Append.
func DecodePos(b []byte) (Pos, error) {
	if len(b) != PosSize {
		return Pos{}, fmt.Errorf("%w: position of %d bytes, want %d", ErrCorrupt, len(b), PosSize)
	}
	return Pos{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])}, nil
}

// FileInfo describes one file of a Store.
type FileInfo struct {
	Num  uint32
	Size int64
}

// Store is one series of append-only record files.
type Store struct {
	dir  string
	opt  Options
	mu   sync.Mutex // writers
	rmu  sync.RWMutex
	fs   FS
	read map[uint32]File // handles for Read, guarded by rmu
	// Guarded by mu (and rmu for sizes, which Read checks).
	sizes map[uint32]int64 // every file present and its size
	cur   uint32           // the file appended to
	w     File             // cur, open for writing; nil until needed
	dirty map[uint32]File
	// dropped is, per file written since Open, how far its pages were
	// last dropped from the page cache (dropWritten).
	dropped   map[uint32]int64
	newFiles  bool  // a file was created since the last Sync
	discarded int64 // torn bytes dropped by Open
	broken    error
}

// Open opens (creating if needed) the store in dir. It checks every
// record of the last file and truncates it at the first record that is
// incomplete or fails its checksum: a tail that a crash tore. Discarded
// reports how many bytes that dropped.
func Open(dir string, o Options) (*Store, error) {
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxFileSize > 1<<32-1 {
		return nil, fmt.Errorf("blockfile: MaxFileSize %d exceeds 4 GiB", o.MaxFileSize)
	}
	if o.Prefix == "" || strings.ContainsAny(o.Prefix, `/\`) {
		return nil, fmt.Errorf("blockfile: invalid prefix %q", o.Prefix)
	}
	if o.FS == nil {
		o.FS = OS{}
	}
	if err := o.FS.MkdirAll(dir); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, opt: o, fs: o.FS, read: make(map[uint32]File), sizes: make(map[uint32]int64), dirty: make(map[uint32]File), dropped: make(map[uint32]int64)}
	entries, err := s.fs.List(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		num, ok := s.parseName(e.Name)
		if !ok {
			continue
		}
		if !e.Regular {
			return nil, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, filepath.Join(dir, e.Name))
		}
		s.sizes[num] = e.Size
		s.cur = max(s.cur, num)
	}
	if d := o.Durable; d != nil {
		if err := s.dropAfter(*d); err != nil {
			return nil, err
		}
	}
	if _, ok := s.sizes[s.cur]; ok {
		if err := s.recoverTail(); err != nil {
			return nil, err
		}
	}
	if d := o.Durable; d != nil && (s.cur != d.File || s.sizes[s.cur] != d.Size) && d.Size > 0 {
		return nil, fmt.Errorf("%w: %s holds %d intact bytes, but %d were synced", ErrCorrupt, s.path(d.File), s.sizes[d.File], d.Size)
	}
	return s, nil
}

func (s *Store) parseName(name string) (uint32, bool) {
	rest, ok := strings.CutPrefix(name, s.opt.Prefix)
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, ".dat")
	if !ok || len(digits) != 5 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	return uint32(n), err == nil
}

func (s *Store) path(num uint32) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%05d.dat", s.opt.Prefix, num))
}

// dropAfter removes the files after d and cuts d's file to its durable
// size: what lies beyond was never synced, so nothing refers to it.
func (s *Store) dropAfter(d End) error {
	for num := range s.sizes {
		if num > d.File {
			if err := s.fs.Remove(s.path(num)); err != nil {
				return err
			}
			delete(s.sizes, num)
		}
	}
	size, ok := s.sizes[d.File]
	switch {
	case !ok && d.Size > 0:
		return fmt.Errorf("%w: %s is missing, but %d bytes of it were synced", ErrCorrupt, s.path(d.File), d.Size)
	case !ok:
		s.cur = d.File
		return nil
	case size < d.Size:
		return fmt.Errorf("%w: %s has %d bytes, but %d were synced", ErrCorrupt, s.path(d.File), size, d.Size)
	case size > d.Size:
		f, err := s.fs.OpenFile(s.path(d.File), false)
		if err != nil {
			return err
		}
		err = f.Truncate(d.Size)
		if err == nil && !s.opt.NoSync {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("truncate %s after its durable end: %w", s.path(d.File), err)
		}
		s.discarded += size - d.Size
		s.sizes[d.File] = d.Size
	}
	s.cur = d.File
	return nil
}

// recoverTail scans the last file and cuts it after its last whole
// record.
func (s *Store) recoverTail() error {
	path := s.path(s.cur)
	f, err := s.fs.OpenFile(path, false)
	if err != nil {
		return err
	}
	defer f.Close()
	size := s.sizes[s.cur]
	var good int64
	hdr := make([]byte, HeaderSize)
	var payload []byte
	for good < size {
		if size-good < HeaderSize {
			break
		}
		if _, err := f.ReadAt(hdr, good); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		n, ok := s.checkHeader(hdr)
		if !ok || int64(n) > size-good-HeaderSize {
			break
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := f.ReadAt(payload, good+HeaderSize); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if recordSum(hdr[4:8], payload) != binary.LittleEndian.Uint32(hdr[8:]) {
			break
		}
		good += HeaderSize + int64(n)
	}
	if good == size {
		return nil
	}
	if err := f.Truncate(good); err != nil {
		return fmt.Errorf("truncate the torn tail of %s: %w", path, err)
	}
	if !s.opt.NoSync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	s.discarded += size - good
	s.sizes[s.cur] = good
	return nil
}

// checkHeader checks a header's magic and returns its payload length.
func (s *Store) checkHeader(hdr []byte) (uint32, bool) {
	if [4]byte(hdr[:4]) != s.opt.Magic {
		return 0, false
	}
	n := binary.LittleEndian.Uint32(hdr[4:8])
	return n, int64(n) <= s.opt.MaxFileSize-HeaderSize
}

func recordSum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// Discarded returns the bytes of torn tail Open dropped.
func (s *Store) Discarded() int64 { return s.discarded }

// Append writes one record and returns its position. The record is
// readable at once and durable after the next Sync.
func (s *Store) Append(payload []byte) (Pos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return Pos{}, s.broken
	}
	rec := int64(HeaderSize + len(payload))
	if rec > s.opt.MaxFileSize {
		return Pos{}, fmt.Errorf("blockfile: record of %d bytes exceeds the file size limit %d", len(payload), s.opt.MaxFileSize)
	}
	if size, ok := s.sizes[s.cur]; ok && size+rec > s.opt.MaxFileSize {
		if err := s.roll(); err != nil {
			return Pos{}, err
		}
	}
	if s.w == nil {
		if err := s.openWriter(); err != nil {
			return Pos{}, err
		}
	}
	off := s.sizes[s.cur]
	var hdr [HeaderSize]byte
	copy(hdr[:], s.opt.Magic[:])
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[8:], recordSum(hdr[4:8], payload))
	// Header and payload in two writes rather than a copy of the payload
	// (a block is up to a megabyte); a tear between them is a torn
	// record like any other, found by the checksum on open.
	_, err := s.w.WriteAt(hdr[:], off)
	if err == nil {
		_, err = s.w.WriteAt(payload, off+HeaderSize)
	}
	if err != nil {
		// Cut what part of the record reached the file, so the next
		// record starts where the index expects; if even that fails,
		// refuse further writes (Open will discard the tail).
		if terr := s.w.Truncate(off); terr != nil {
			s.broken = fmt.Errorf("blockfile: %s after a failed write: %v", s.w.Name(), terr)
		}
		return Pos{}, fmt.Errorf("write %s: %w", s.w.Name(), err)
	}
	s.dirty[s.cur] = s.w
	s.rmu.Lock()
	s.sizes[s.cur] = off + rec
	s.rmu.Unlock()
	return Pos{File: s.cur, Offset: uint32(off), Len: uint32(len(payload))}, nil
}

// openWriter opens (or creates) the current file for appending.
func (s *Store) openWriter() error {
	_, exists := s.sizes[s.cur]
	f, err := s.fs.OpenFile(s.path(s.cur), true)
	if err != nil {
		return err
	}
	s.w = f
	if !exists {
		s.newFiles = true
		s.rmu.Lock()
		s.sizes[s.cur] = 0
		s.rmu.Unlock()
	}
	return nil
}

// roll moves appends to the next file. The full file stays in dirty
// until the next Sync.
func (s *Store) roll() error {
	if s.w != nil {
		if _, still := s.dirty[s.cur]; !still {
			if err := s.w.Close(); err != nil {
				return err
			}
		}
		s.w = nil
	}
	if s.cur == 1<<32-1 {
		return errors.New("blockfile: out of file numbers")
	}
	s.cur++
	return nil
}

// Sync makes every record appended so far durable: it syncs each file
// written since the last Sync and, when a file was created, the
// directory. It returns the durable End, for the caller to record with
// the positions (Options.Durable).
func (s *Store) Sync() (End, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := End{File: s.cur, Size: s.sizes[s.cur]}
	return end, s.syncLocked()
}

func (s *Store) syncLocked() error {
	for num, f := range s.dirty {
		if !s.opt.NoSync {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("sync %s: %w", f.Name(), err)
			}
		}
		s.dropWritten(num, f, f != s.w)
		delete(s.dirty, num)
		if f != s.w {
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	if s.newFiles && !s.opt.NoSync {
		if err := s.fs.SyncDir(s.dir); err != nil {
			return err
		}
	}
	s.newFiles = false
	return nil
}

// dropEvery is how much a file grows between two drops of its written
// pages from the page cache: one call per several blocks, not two per
// block (the call can wait for every CPU to drain its page lists).
const dropEvery = 8 << 20

// dropWritten drops file num's synced pages from the page cache once it
// has grown by dropEvery since the last drop, or when it is finished.
// Records are written once and read rarely (a reorganization, a peer's
// getblocks): the memory is better left to the UTXO database, and with
// the page cache full, every page an append needed had to be reclaimed
// first, which cost ten times the write (docs/decisions.md "Block
// files"). The drop starts one step back: without fsync (NoSync) the
// newest pages are still dirty when dropped and stay, until written back.
func (s *Store) dropWritten(num uint32, f File, finished bool) {
	end, done := s.sizes[num], s.dropped[num]
	if end-done < dropEvery && !finished {
		return
	}
	from := max(0, done-dropEvery)
	dropCache(f, from, end-from)
	s.dropped[num] = end
	if finished {
		delete(s.dropped, num)
	}
}

// Read returns the payload of the record at p, after checking its header
// and checksum against p.
func (s *Store) Read(p Pos) ([]byte, error) {
	buf := make([]byte, HeaderSize+int(p.Len))
	for {
		// The lookup and the read share one read lock, so neither
		// eviction nor RemoveFile closes the handle in between.
		s.rmu.RLock()
		size, ok := s.sizes[p.File]
		f := s.read[p.File]
		var err error
		if ok && f != nil && int64(p.Offset)+int64(len(buf)) <= size {
			_, err = f.ReadAt(buf, int64(p.Offset))
		}
		s.rmu.RUnlock()
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: %s", ErrPruned, s.path(p.File))
		case int64(p.Offset)+int64(len(buf)) > size:
			return nil, fmt.Errorf("%w: record %d+%d beyond the end (%d) of %s", ErrCorrupt, p.Offset, p.Len, size, s.path(p.File))
		case f == nil:
			if _, err := s.openReader(p.File); err != nil {
				return nil, err
			}
			continue
		case err == io.EOF:
			return nil, fmt.Errorf("read %s at %d: %w", s.path(p.File), p.Offset, io.ErrUnexpectedEOF)
		case err != nil:
			return nil, fmt.Errorf("read %s at %d: %w", s.path(p.File), p.Offset, err)
		}
		n, ok := s.checkHeader(buf[:HeaderSize])
		if !ok || n != p.Len || recordSum(buf[4:8], buf[HeaderSize:]) != binary.LittleEndian.Uint32(buf[8:]) {
			return nil, fmt.Errorf("%w: bad record at %d in %s", ErrCorrupt, p.Offset, s.path(p.File))
		}
		return buf[HeaderSize:], nil
	}
}

func (s *Store) openReader(num uint32) (File, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if f := s.read[num]; f != nil {
		return f, nil
	}
	if _, ok := s.sizes[num]; !ok {
		return nil, fmt.Errorf("%w: %s", ErrPruned, s.path(num))
	}
	f, err := s.fs.Open(s.path(num))
	if err != nil {
		return nil, err
	}
	if len(s.read) >= maxOpenFiles {
		for k, old := range s.read { // any one: reads are rare beyond the recent files
			old.Close()
			delete(s.read, k)
			break
		}
	}
	s.read[num] = f
	return f, nil
}

// Files lists the files in ascending order with their sizes.
func (s *Store) Files() []FileInfo {
	s.rmu.RLock()
	defer s.rmu.RUnlock()
	out := make([]FileInfo, 0, len(s.sizes))
	for num, size := range s.sizes {
		out = append(out, FileInfo{num, size})
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return int(int64(a.Num) - int64(b.Num)) })
	return out
}

// Size returns the total size of the files.
func (s *Store) Size() int64 {
	s.rmu.RLock()
	defer s.rmu.RUnlock()
	var n int64
	for _, size := range s.sizes {
		n += size
	}
	return n
}

// Current returns the number of the file being appended to.
func (s *Store) Current() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// RemoveFile deletes file num, which must not be the current one; later
// reads of its records fail with ErrPruned. The caller removes its index
// references first (or knows they are no longer needed).
func (s *Store) RemoveFile(num uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if num == s.cur {
		return fmt.Errorf("blockfile: cannot remove %s, the file being written", s.path(num))
	}
	s.rmu.Lock()
	_, ok := s.sizes[num]
	if f := s.read[num]; f != nil {
		f.Close()
		delete(s.read, num)
	}
	delete(s.sizes, num)
	s.rmu.Unlock()
	if !ok {
		return nil
	}
	if f := s.dirty[num]; f != nil {
		f.Close()
		delete(s.dirty, num)
	}
	delete(s.dropped, num)
	if err := s.fs.Remove(s.path(num)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Close syncs and closes every file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.syncLocked()
	if s.w != nil {
		err = errors.Join(err, s.w.Close())
		s.w = nil
	}
	s.rmu.Lock()
	for k, f := range s.read {
		f.Close()
		delete(s.read, k)
	}
	s.rmu.Unlock()
	if s.broken == nil {
		s.broken = errors.New("blockfile: store closed")
	}
	return err
}
