package blockfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentPages counts the pages of the file at path that are in the
// page cache (mincore over a mapping of it).
func residentPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(info.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestSyncDropsWrittenPages: records synced to disk leave the page cache
// (a node writes a block once and rarely reads it again; the pages it
// keeps cost every later write a reclaim), and read back intact.
func TestSyncDropsWrittenPages(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(64 << 20)
	o.NoSync = false
	s := mustOpen(t, dir, o)
	var recs []written
	for i := range 8 {
		p := payload(i, 256<<10)
		pos, err := s.Append(p)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, written{pos, p})
	}
	path := filepath.Join(dir, "blk00000.dat")
	if n := residentPages(t, path); n == 0 {
		t.Skip("this file system keeps no written pages in the page cache")
	}
	if _, err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := residentPages(t, path); n > 1 {
		t.Fatalf("%d pages of 2 MB of synced records still cached", n)
	}
	for _, r := range recs {
		got, err := s.Read(r.pos)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, r.data) {
			t.Fatalf("record at %+v reads back different", r.pos)
		}
	}
}
