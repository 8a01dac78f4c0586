package chain

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/syndtr/goleveldb/leveldb/storage"

	"tally/chain/blockfile"
)

// testStorage is an in-memory goleveldb storage.Storage modelling a disk
// behind a write cache, with two test hooks:
//
//   - faults: reads and/or writes fail with errFault while set (a dying
//     disk);
//   - power cuts: after a chosen number of writes and syncs the power
//     goes; the process keeps running on what it sees, but Reboot brings
//     back only what was synced before the cut: every file's content as
//     of its last Sync, the metadata (CURRENT) as set, files removed or
//     renamed before the cut as they were left. goleveldb syncs its table
//     files and manifest itself; what it writes to its journal without a
//     sync is lost.
type testStorage struct {
	// blocks holds the block files, under the same faults and power
	// cuts (Config.BlockFS; openOn uses it).
	blocks     *blockfile.MemFS
	blocksImg  *blockfile.MemFS // what of blocks survives the cut
	mu         sync.Mutex
	files      map[storage.FileDesc]*tsFile
	meta       storage.FileDesc
	hasMeta    bool
	failReads  bool
	failWrites bool
	ops        int // writes and syncs so far
	cutAt      int // the op at which the power goes; 0: never
	durable    *tsImage
}

type tsFile struct {
	data   []byte
	synced []byte
}

// tsImage is what survives a power cut.
type tsImage struct {
	files   map[storage.FileDesc][]byte
	meta    storage.FileDesc
	hasMeta bool
}

var errFault = errors.New("injected storage fault")

func newTestStorage() *testStorage {
	s := &testStorage{files: make(map[storage.FileDesc]*tsFile)}
	s.setBlocks(blockfile.NewMemFS())
	return s
}

// setBlocks makes m the block files, with the storage's faults and cuts.
func (s *testStorage) setBlocks(m *blockfile.MemFS) {
	m.Hook = func(op, name string) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if op == "read" {
			if s.failReads {
				return errFault
			}
			return nil
		}
		if s.failWrites {
			return errFault
		}
		s.op()
		return nil
	}
	s.blocks = m
}

// setFaults makes reads and writes fail (or work again).
func (s *testStorage) setFaults(reads, writes bool) {
	s.mu.Lock()
	s.failReads, s.failWrites = reads, writes
	s.mu.Unlock()
}

// cutAfter schedules a power cut after n more writes or syncs.
func (s *testStorage) cutAfter(n int) {
	s.mu.Lock()
	s.cutAt = s.ops + n
	s.durable = nil
	s.mu.Unlock()
}

// cut reports whether the power has gone.
func (s *testStorage) cut() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durable != nil
}

// reboot restores what survived the cut (everything, if there was none).
func (s *testStorage) reboot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.durable != nil {
		s.files = make(map[storage.FileDesc]*tsFile)
		for fd, b := range s.durable.files {
			s.files[fd] = &tsFile{data: bytes.Clone(b), synced: bytes.Clone(b)}
		}
		s.meta, s.hasMeta = s.durable.meta, s.durable.hasMeta
		s.setBlocks(s.blocksImg)
	}
	s.durable, s.cutAt, s.blocksImg = nil, 0, nil
}

// op counts a write or sync and takes the durable image when the power
// goes (before the op: the op itself is lost). Caller holds mu.
func (s *testStorage) op() {
	s.ops++
	if s.cutAt != 0 && s.ops == s.cutAt && s.durable == nil {
		img := &tsImage{files: make(map[storage.FileDesc][]byte), meta: s.meta, hasMeta: s.hasMeta}
		for fd, f := range s.files {
			img.files[fd] = bytes.Clone(f.synced)
		}
		s.durable = img
		s.blocksImg = s.blocks.Durable()
	}
}

type tsLock struct{}

func (tsLock) Unlock() {}

func (s *testStorage) Lock() (storage.Locker, error) { return tsLock{}, nil }
func (s *testStorage) Log(string)                    {}
func (s *testStorage) Close() error                  { return nil }

func (s *testStorage) SetMeta(fd storage.FileDesc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWrites {
		return errFault
	}
	s.op()
	s.meta, s.hasMeta = fd, true
	return nil
}

func (s *testStorage) GetMeta() (storage.FileDesc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasMeta {
		return storage.FileDesc{}, os.ErrNotExist
	}
	return s.meta, nil
}

func (s *testStorage) List(ft storage.FileType) ([]storage.FileDesc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.FileDesc
	for fd := range s.files {
		if fd.Type&ft != 0 {
			out = append(out, fd)
		}
	}
	return out, nil
}

func (s *testStorage) Open(fd storage.FileDesc) (storage.Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[fd]
	if !ok {
		return nil, os.ErrNotExist
	}
	return &tsReader{s: s, r: bytes.NewReader(bytes.Clone(f.data))}, nil
}

func (s *testStorage) Create(fd storage.FileDesc) (storage.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWrites {
		return nil, errFault
	}
	s.op()
	f := &tsFile{}
	s.files[fd] = f
	return &tsWriter{s: s, f: f}, nil
}

func (s *testStorage) Remove(fd storage.FileDesc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[fd]; !ok {
		return os.ErrNotExist
	}
	s.op()
	delete(s.files, fd)
	return nil
}

func (s *testStorage) Rename(oldfd, newfd storage.FileDesc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[oldfd]
	if !ok {
		return os.ErrNotExist
	}
	s.op()
	delete(s.files, oldfd)
	s.files[newfd] = f
	return nil
}

type tsReader struct {
	s *testStorage
	r *bytes.Reader
}

func (r *tsReader) failing() bool {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.s.failReads
}

func (r *tsReader) Read(p []byte) (int, error) {
	if r.failing() {
		return 0, errFault
	}
	return r.r.Read(p)
}

func (r *tsReader) ReadAt(p []byte, off int64) (int, error) {
	if r.failing() {
		return 0, errFault
	}
	return r.r.ReadAt(p, off)
}

func (r *tsReader) Seek(off int64, whence int) (int64, error) { return r.r.Seek(off, whence) }
func (r *tsReader) Close() error                              { return nil }

type tsWriter struct {
	s *testStorage
	f *tsFile
}

func (w *tsWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.failWrites {
		return 0, errFault
	}
	w.s.op()
	w.f.data = append(w.f.data, p...)
	return len(p), nil
}

func (w *tsWriter) Sync() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.failWrites {
		return errFault
	}
	w.s.op()
	w.f.synced = bytes.Clone(w.f.data)
	return nil
}

func (w *tsWriter) Close() error { return nil }

var _ io.ReaderAt = (*tsReader)(nil)
