package blockfile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var testMagic = [4]byte{'t', 'b', 'l', 'k'}

func testOpts(max int64) Options {
	return Options{Prefix: "blk", Magic: testMagic, MaxFileSize: max, NoSync: true}
}

func mustOpen(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// payload returns a deterministic record body of n bytes.
func payload(i, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

type written struct {
	pos  Pos
	data []byte
}

func appendN(t *testing.T, s *Store, from, n int) []written {
	t.Helper()
	var out []written
	for i := from; i < from+n; i++ {
		d := payload(i, 1+i*37%300)
		p, err := s.Append(d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, written{p, d})
	}
	return out
}

func checkAll(t *testing.T, s *Store, ws []written) {
	t.Helper()
	for i, w := range ws {
		got, err := s.Read(w.pos)
		if err != nil || !bytes.Equal(got, w.data) {
			t.Fatalf("record %d at %+v: %v (equal %v)", i, w.pos, err, bytes.Equal(got, w.data))
		}
	}
}

// TestAppendReadRollReopen: records come back as written, files stay
// within their bound and roll over, and a reopened store reads them all
// and appends after them.
func TestAppendReadRollReopen(t *testing.T) {
	dir := t.TempDir()
	const max = 1000
	s := mustOpen(t, dir, testOpts(max))
	ws := appendN(t, s, 0, 100)
	checkAll(t, s, ws)
	end, err := s.Sync()
	if err != nil {
		t.Fatal(err)
	}
	files := s.Files()
	if len(files) < 10 {
		t.Fatalf("%d files for 100 records in files of %d bytes", len(files), max)
	}
	var total int64
	for _, f := range files {
		if f.Size > max {
			t.Fatalf("file %d is %d bytes, over %d", f.Num, f.Size, max)
		}
		total += f.Size
	}
	if total != s.Size() || end.File != files[len(files)-1].Num || end.Size != files[len(files)-1].Size {
		t.Fatalf("sizes: total %d Size %d end %+v files %v", total, s.Size(), end, files)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := mustOpen(t, dir, Options{Prefix: "blk", Magic: testMagic, MaxFileSize: max, NoSync: true, Durable: &end})
	if s2.Discarded() != 0 {
		t.Fatalf("discarded %d bytes of a clean store", s2.Discarded())
	}
	checkAll(t, s2, ws)
	ws = append(ws, appendN(t, s2, 100, 20)...)
	checkAll(t, s2, ws)
}

// TestRecordTooLarge: a record that cannot fit a file is refused.
func TestRecordTooLarge(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOpts(100))
	if _, err := s.Append(make([]byte, 100-HeaderSize+1)); err == nil {
		t.Fatal("record larger than a file accepted")
	}
	if _, err := s.Append(make([]byte, 100-HeaderSize)); err != nil {
		t.Fatalf("record filling a file refused: %v", err)
	}
}

// copyDir copies the files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestTornLastRecord cuts the last record at every offset and, separately,
// damages each of its bytes, as a crash or power cut before the record was
// synced can: Open discards exactly that record, every earlier one still
// reads back, reading the lost one fails cleanly, and the next record is
// written where it was.
func TestTornLastRecord(t *testing.T) {
	base := t.TempDir()
	s := mustOpen(t, base, testOpts(1<<20))
	ws := appendN(t, s, 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	last := ws[len(ws)-1]
	start := int64(last.pos.Offset)
	end := start + HeaderSize + int64(last.pos.Len)
	path := filepath.Join(base, "blk00000.dat")
	whole, err := os.ReadFile(path)
	if err != nil || int64(len(whole)) != end {
		t.Fatalf("file of %d bytes, want %d: %v", len(whole), end, err)
	}
	check := func(t *testing.T, dir string, name string) {
		s := mustOpen(t, dir, testOpts(1<<20))
		checkAll(t, s, ws[:len(ws)-1])
		if _, err := s.Read(last.pos); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: reading the torn record: %v", name, err)
		}
		p, err := s.Append([]byte("next"))
		if err != nil || p.File != 0 || int64(p.Offset) != start {
			t.Fatalf("%s: next record at %+v (%v), want offset %d", name, p, err, start)
		}
		s.Close()
	}
	for cut := start; cut < end; cut++ {
		dir := copyDir(t, base)
		if err := os.Truncate(filepath.Join(dir, "blk00000.dat"), cut); err != nil {
			t.Fatal(err)
		}
		s := mustOpen(t, dir, testOpts(1<<20))
		if s.Discarded() != cut-start {
			t.Fatalf("cut at %d: discarded %d, want %d", cut, s.Discarded(), cut-start)
		}
		s.Close()
		check(t, dir, fmt.Sprintf("cut at %d", cut))
	}
	for off := start; off < end; off++ {
		dir := copyDir(t, base)
		b := bytes.Clone(whole)
		b[off] ^= 0x40
		if err := os.WriteFile(filepath.Join(dir, "blk00000.dat"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s := mustOpen(t, dir, testOpts(1<<20))
		if s.Discarded() != end-start {
			t.Fatalf("byte %d flipped: discarded %d, want %d", off, s.Discarded(), end-start)
		}
		s.Close()
		check(t, dir, fmt.Sprintf("byte %d flipped", off))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDurableEnd: with the caller's record of the last Sync, Open drops
// what was written after it (later files too), and refuses a store that
// lost synced bytes or holds a damaged synced record.
func TestDurableEnd(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(1000))
	ws := appendN(t, s, 0, 30)
	end, err := s.Sync()
	if err != nil {
		t.Fatal(err)
	}
	more := appendN(t, s, 30, 30) // never synced: nothing refers to them
	if more[len(more)-1].pos.File == end.File {
		t.Fatal("test needs the unsynced records to reach a later file")
	}
	s.Close()

	good := copyDir(t, dir)
	o := testOpts(1000)
	o.Durable = &end
	s2 := mustOpen(t, good, o)
	checkAll(t, s2, ws)
	if f := s2.Files(); f[len(f)-1].Num != end.File || f[len(f)-1].Size != end.Size {
		t.Fatalf("files after reopen %v, want the last to be %+v", f, end)
	}
	if _, err := os.Stat(filepath.Join(good, fmt.Sprintf("blk%05d.dat", end.File+1))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unsynced later file kept: %v", err)
	}
	if _, err := s2.Read(more[len(more)-1].pos); !errors.Is(err, ErrPruned) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a dropped record: %v", err)
	}
	s2.Close()

	short := copyDir(t, dir)
	if err := os.Truncate(filepath.Join(short, fmt.Sprintf("blk%05d.dat", end.File)), end.Size-1); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(short, o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("store missing a synced byte opened: %v", err)
	}

	flipped := copyDir(t, dir)
	path := filepath.Join(flipped, fmt.Sprintf("blk%05d.dat", end.File))
	b := mustRead(t, path)
	b[HeaderSize+1] ^= 1
	os.WriteFile(path, b, 0o600)
	if _, err := Open(flipped, o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("store with a damaged synced record opened: %v", err)
	}
}

// TestHostileFiles: damaged, foreign and strange files give clear errors
// on Open or Read, never a panic or a wrong payload.
func TestHostileFiles(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(1000))
	ws := appendN(t, s, 0, 20)
	s.Close()
	first := filepath.Join(dir, "blk00000.dat")
	orig := mustRead(t, first)

	// A damaged byte in an older file: its record fails to read, the
	// others still read.
	b := bytes.Clone(orig)
	b[HeaderSize] ^= 0xff // the first payload byte of the first record
	os.WriteFile(first, b, 0o600)
	s = mustOpen(t, dir, testOpts(1000))
	if _, err := s.Read(ws[0].pos); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged record read: %v", err)
	}
	checkAll(t, s, ws[1:])

	// Positions that do not match the record: wrong length, wrong
	// offset, beyond the end, a missing file.
	for _, p := range []Pos{
		{File: 0, Offset: ws[1].pos.Offset, Len: ws[1].pos.Len + 1},
		{File: 0, Offset: ws[1].pos.Offset + 1, Len: ws[1].pos.Len},
		{File: 0, Offset: 1 << 31, Len: 10},
		{File: 0, Offset: 0, Len: 1<<32 - 1},
		{File: 999, Offset: 0, Len: 1},
	} {
		if got, err := s.Read(p); err == nil {
			t.Fatalf("read %+v: %d bytes, want an error", p, len(got))
		}
	}
	s.Close()

	// A file of another network or kind as the last file, and garbage:
	// the records do not check, so none is ever returned; with the
	// caller's durable end the store refuses to open.
	foreign := t.TempDir()
	other := mustOpen(t, foreign, Options{Prefix: "blk", Magic: [4]byte{'x', 'x', 'x', 'x'}, NoSync: true})
	fw, _ := other.Append([]byte("foreign"))
	end, _ := other.Sync()
	other.Close()
	o := testOpts(1000)
	o.Durable = &end
	if _, err := Open(foreign, o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("foreign file with a durable end opened: %v", err)
	}
	s = mustOpen(t, copyDir(t, foreign), testOpts(1000))
	if _, err := s.Read(fw); err == nil {
		t.Fatal("read a foreign record")
	}
	s.Close()

	// A directory where a file should be, and names that are not ours.
	odd := t.TempDir()
	os.WriteFile(filepath.Join(odd, "blk0.dat"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(odd, "blk00000.dat.tmp"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(odd, "rev00000.dat"), []byte("x"), 0o600)
	s = mustOpen(t, odd, testOpts(1000))
	if n := len(s.Files()); n != 0 {
		t.Fatalf("%d files taken from names that are not the store's", n)
	}
	s.Close()
	os.Mkdir(filepath.Join(odd, "blk00001.dat"), 0o700)
	if _, err := Open(odd, testOpts(1000)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("directory as a block file: %v", err)
	}

	// Random garbage of every small size as the only file.
	for n := 0; n < 200; n++ {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "blk00000.dat"), payload(n, n), 0o600)
		s, err := Open(d, testOpts(1000))
		if err != nil {
			t.Fatalf("garbage of %d bytes: %v", n, err)
		}
		if _, err := s.Read(Pos{0, 0, uint32(max(n-HeaderSize, 0))}); err == nil {
			t.Fatalf("garbage of %d bytes read as a record", n)
		}
		s.Close()
	}
}

// TestRemoveFile: pruning deletes old files, their records answer
// ErrPruned, the current file cannot go, and the rest still reads.
func TestRemoveFile(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOpts(500))
	ws := appendN(t, s, 0, 40)
	if _, err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	before := s.Size()
	if err := s.RemoveFile(s.Current()); err == nil {
		t.Fatal("removed the file being written")
	}
	if err := s.RemoveFile(0); err != nil {
		t.Fatal(err)
	}
	if s.Size() >= before {
		t.Fatalf("size %d after removing a file, was %d", s.Size(), before)
	}
	for _, w := range ws {
		_, err := s.Read(w.pos)
		if w.pos.File == 0 && !errors.Is(err, ErrPruned) {
			t.Fatalf("pruned record: %v", err)
		}
		if w.pos.File != 0 && err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = mustOpen(t, dir, testOpts(500))
	if f := s.Files(); f[0].Num != 1 {
		t.Fatalf("files after reopen: %v", f)
	}
}

// TestConcurrentReads runs readers against an appending, pruning writer
// (go test -race).
func TestConcurrentReads(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{Prefix: "blk", Magic: testMagic, MaxFileSize: 400, NoSync: true})
	ws := appendN(t, s, 0, 50)
	done := make(chan struct{})
	for r := 0; r < 2; r++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for k := 0; k < 2000; k++ {
				w := ws[k%len(ws)]
				got, err := s.Read(w.pos)
				if err == nil && !bytes.Equal(got, w.data) {
					t.Error("wrong payload")
					return
				}
				if err != nil && !errors.Is(err, ErrPruned) {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		appendN(t, s, 100+i, 1)
		if i%10 == 0 {
			s.Sync()
			s.RemoveFile(uint32(i / 10))
		}
	}
	<-done
	<-done
}

// TestPowerCut appends and syncs on a MemFS, cuts the power after every
// number of file operations, and reopens with the last durable End the
// caller saw: every record synced before the cut reads back, and the
// store appends again.
func TestPowerCut(t *testing.T) {
	for cutAt := 1; cutAt < 120; cutAt++ {
		m := NewMemFS()
		ops := 0
		m.Hook = func(op, name string) error {
			ops++
			if ops >= cutAt {
				return errors.New("power gone")
			}
			return nil
		}
		o := Options{Prefix: "rev", Magic: testMagic, MaxFileSize: 600, FS: m}
		s, err := Open("/d/blocks", o)
		if err != nil {
			t.Fatal(err)
		}
		var durable []written
		var end *End
		var pending []written
		for i := 0; i < 40; i++ {
			p, err := s.Append(payload(i, 50+i%7*20))
			if err != nil {
				break
			}
			pending = append(pending, written{p, payload(i, 50+i%7*20)})
			if i%3 == 2 {
				e, err := s.Sync()
				if err != nil {
					break
				}
				end, durable = &e, append(durable, pending...)
				pending = nil
			}
		}
		m.Hook = nil
		m.PowerCut()
		o.Durable = end
		s2, err := Open("/d/blocks", o)
		if err != nil {
			t.Fatalf("cut at op %d: reopen: %v", cutAt, err)
		}
		checkAll(t, s2, durable)
		if _, err := s2.Append([]byte("after")); err != nil {
			t.Fatalf("cut at op %d: append after reopen: %v", cutAt, err)
		}
		if _, err := s2.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteFault: a failed write leaves no partial record behind; the
// next record lands where the failed one would have.
func TestWriteFault(t *testing.T) {
	m := NewMemFS()
	fail := false
	m.Hook = func(op, name string) error {
		if fail && op == "write" {
			return errors.New("disk error")
		}
		return nil
	}
	s, err := Open("/d", Options{Prefix: "blk", Magic: testMagic, FS: m})
	if err != nil {
		t.Fatal(err)
	}
	ws := appendN(t, s, 0, 3)
	fail = true
	if _, err := s.Append([]byte("lost")); err == nil {
		t.Fatal("append through a failing disk succeeded")
	}
	fail = false
	ws = append(ws, appendN(t, s, 3, 2)...)
	checkAll(t, s, ws)
	if ws[3].pos.Offset != ws[2].pos.Offset+HeaderSize+ws[2].pos.Len {
		t.Fatalf("record after a failed write at %d, want %d", ws[3].pos.Offset, ws[2].pos.Offset+HeaderSize+ws[2].pos.Len)
	}
}

// TestMemFSPowerCutKeepsSynced: MemFS's power cut keeps exactly the bytes
// of the last sync, also when writes and truncates after it changed bytes
// below the synced length (a sync no longer copies the file, so those
// must save the synced bytes first).
func TestMemFSPowerCutKeepsSynced(t *testing.T) {
	m := NewMemFS()
	f, err := m.OpenFile("/d/f", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello world"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	read := func(want string) {
		t.Helper()
		r, err := m.Open("/d/f")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, _ := r.ReadAt(buf, 0)
		if got := string(buf[:n]); got != want {
			t.Fatalf("file holds %q, want %q", got, want)
		}
	}
	// Overwrite below the synced length, append past it, cut.
	f.WriteAt([]byte("J"), 0)
	f.WriteAt([]byte("!!"), 11)
	read("Jello world!!")
	m.PowerCut()
	read("hello world")
	// Truncate below it, write in the old tail, cut.
	f, _ = m.OpenFile("/d/f", false)
	f.Truncate(3)
	f.WriteAt([]byte("XY"), 3)
	read("helXY")
	m.PowerCut()
	read("hello world")
	// A sync after the changes makes them the ones that survive.
	f, _ = m.OpenFile("/d/f", false)
	f.WriteAt([]byte("J"), 0)
	f.Sync()
	m.PowerCut()
	read("Jello world")
}
