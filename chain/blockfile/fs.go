package blockfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"tally/internal/atomicfile"
)

// FS is the file system a Store works on: the real one (OS), or MemFS
// for tests that cut the power.
type FS interface {
	MkdirAll(dir string) error
	// List returns the entries of dir.
	List(dir string) ([]Entry, error)
	// OpenFile opens name for reading and writing, creating it if create.
	OpenFile(name string, create bool) (File, error)
	// Open opens name for reading.
	Open(name string) (File, error)
	Remove(name string) error
	// SyncDir makes the creation and removal of dir's files durable.
	SyncDir(dir string) error
}

// Entry is one directory entry.
type Entry struct {
	Name    string
	Size    int64
	Regular bool
}

// File is an open file (*os.File is one).
type File interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Close() error
	Name() string
}

// OS is the operating system's file system.
type OS struct{}

// MkdirAll creates dir and its parents.
func (OS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o700) }

// List reads dir.
func (OS) List(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(des))
	for _, d := range des {
		e := Entry{Name: d.Name(), Regular: d.Type().IsRegular()}
		if e.Regular {
			info, err := d.Info()
			if err != nil {
				return nil, err
			}
			e.Size = info.Size()
		}
		out = append(out, e)
	}
	return out, nil
}

// OpenFile opens name read-write.
func (OS) OpenFile(name string, create bool) (File, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	return os.OpenFile(name, flag, 0o600)
}

// Open opens name read-only.
func (OS) Open(name string) (File, error) { return os.Open(name) }

// Remove deletes name.
func (OS) Remove(name string) error { return os.Remove(name) }

// SyncDir fsyncs dir.
func (OS) SyncDir(dir string) error { return atomicfile.SyncDir(dir) }

// MemFS is an in-memory FS modelling a disk behind a write cache: data
// written to a file survives PowerCut only once the file was synced, and
// a created file survives only once its directory was synced. Hook, if
// set, runs before every read, write, truncate and sync, and an error from it
// fails the operation (a dying disk, or a power cut shared with other
// storage in a test).
type MemFS struct {
	mu    sync.Mutex
	files map[string]*memData
	Hook  func(op, name string) error
}

// memData is a file's bytes. What survives a power cut is the first
// syncedLen bytes of data, unless a write or truncate below that length
// came after the sync: then a copy taken just before it (syncedCopy). A
// sync copies nothing: a block file is appended to, and copying it whole
// at every sync made the in-memory chains of tests and benchmarks pay
// for the file's size at every block.
type memData struct {
	data       []byte
	syncedLen  int
	syncedCopy []byte
	durable    bool // the directory entry survives a power cut
}

// synced returns the bytes that survive a power cut.
func (d *memData) synced() []byte {
	if d.syncedCopy != nil {
		return d.syncedCopy
	}
	return d.data[:d.syncedLen]
}

// markSynced makes the current bytes the ones that survive.
func (d *memData) markSynced() {
	d.syncedLen, d.syncedCopy = len(d.data), nil
}

// keepSynced saves the synced bytes before a change at off could touch
// them.
func (d *memData) keepSynced(off int64) {
	if d.syncedCopy == nil && off < int64(d.syncedLen) {
		d.syncedCopy = slices.Clone(d.data[:d.syncedLen])
	}
}

// NewMemFS returns an empty MemFS.
func NewMemFS() *MemFS { return &MemFS{files: make(map[string]*memData)} }

// PowerCut drops everything not synced.
func (m *MemFS) PowerCut() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, d := range m.files {
		if !d.durable {
			delete(m.files, name)
			continue
		}
		d.data = slices.Clone(d.synced())
		d.markSynced()
	}
}

// Durable returns a new MemFS holding what would survive a power cut
// now, for tests that keep running after the cut and reboot later.
func (m *MemFS) Durable() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := NewMemFS()
	for name, d := range m.files {
		if d.durable {
			nd := &memData{data: slices.Clone(d.synced()), durable: true}
			nd.markSynced()
			out.files[name] = nd
		}
	}
	return out
}

func (m *MemFS) hook(op, name string) error {
	if m.Hook == nil {
		return nil
	}
	return m.Hook(op, name)
}

// MkdirAll does nothing: directories exist implicitly.
func (m *MemFS) MkdirAll(string) error { return nil }

// List lists the files directly in dir.
func (m *MemFS) List(dir string) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Entry
	for name, d := range m.files {
		if filepath.Dir(name) == filepath.Clean(dir) {
			out = append(out, Entry{Name: filepath.Base(name), Size: int64(len(d.data)), Regular: true})
		}
	}
	return out, nil
}

// OpenFile opens name read-write.
func (m *MemFS) OpenFile(name string, create bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		if !create {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		m.files[name] = &memData{}
	}
	return &memFile{fs: m, name: name, write: true}, nil
}

// Open opens name read-only.
func (m *MemFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, name: name}, nil
}

// Remove deletes name at once and for good.
func (m *MemFS) Remove(name string) error {
	if err := m.hook("remove", name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

// SyncDir makes the files of dir survive a power cut.
func (m *MemFS) SyncDir(dir string) error {
	if err := m.hook("syncdir", dir); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, d := range m.files {
		if filepath.Dir(name) == filepath.Clean(dir) {
			d.durable = true
		}
	}
	return nil
}

// Corrupt lets a test change a file's bytes (current and synced).
func (m *MemFS) Corrupt(name string, fn func([]byte) []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.files[name]; ok {
		d.data = fn(slices.Clone(d.data))
		d.markSynced()
	}
}

type memFile struct {
	fs     *MemFS
	name   string
	write  bool
	closed bool
}

var errReadOnly = errors.New("file opened read-only")

func (f *memFile) data() (*memData, error) {
	if f.closed {
		return nil, os.ErrClosed
	}
	d, ok := f.fs.files[f.name]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrNotExist}
	}
	return d, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.hook("read", f.name); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	d, err := f.data()
	if err != nil {
		return 0, err
	}
	if off >= int64(len(d.data)) {
		return 0, io.EOF
	}
	n := copy(p, d.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.write {
		return 0, errReadOnly
	}
	if err := f.fs.hook("write", f.name); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	d, err := f.data()
	if err != nil {
		return 0, err
	}
	d.keepSynced(off)
	if end := off + int64(len(p)); end > int64(len(d.data)) {
		if end > int64(cap(d.data)) {
			// Double, as a file system's pages come without copying
			// what is written already: growing by the write (or by
			// append's 1.25 for large slices) would copy the whole
			// file every few blocks and bill that to the chain.
			grown := make([]byte, len(d.data), max(end, 2*int64(cap(d.data))))
			copy(grown, d.data)
			d.data = grown
		}
		old := len(d.data)
		d.data = d.data[:end]
		// A truncated file's old bytes may still be in the capacity:
		// a gap reads as zeros, as in a file.
		if off > int64(old) {
			clear(d.data[old:off])
		}
	}
	return copy(d.data[off:], p), nil
}

func (f *memFile) Truncate(size int64) error {
	if !f.write {
		return errReadOnly
	}
	if err := f.fs.hook("truncate", f.name); err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	d, err := f.data()
	if err != nil {
		return err
	}
	d.keepSynced(size)
	if size < int64(len(d.data)) {
		d.data = d.data[:size]
	} else {
		d.data = append(d.data, make([]byte, size-int64(len(d.data)))...)
	}
	return nil
}

func (f *memFile) Sync() error {
	if err := f.fs.hook("sync", f.name); err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	d, err := f.data()
	if err != nil {
		return err
	}
	d.markSynced()
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	f.closed = true
	f.fs.mu.Unlock()
	return nil
}

func (f *memFile) Name() string { return f.name }
