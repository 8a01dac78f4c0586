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

// TestSyncDropsWrittenPages: records synced leave the page cache once
// the file grew by dropEvery since the last drop (a node writes a block
// once and rarely reads it again; the pages it keeps cost every later
// write a reclaim), not at every sync, and read back intact.
func TestSyncDropsWrittenPages(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(64 << 20)
	o.NoSync = false
	s := mustOpen(t, dir, o)
	var recs []written
	write := func(bytes int) {
		for i := 0; i < bytes/(256<<10); i++ {
			p := payload(len(recs), 256<<10)
			pos, err := s.Append(p)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, written{pos, p})
		}
		if _, err := s.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "blk00000.dat")
	write(1 << 20)
	if n := residentPages(t, path); n < 200 {
		// Either this file system keeps no written pages cached, or
		// they were dropped before dropEvery was reached.
		t.Fatalf("%d pages of the first 1 MB cached: want them all until the file grew by %d", n, dropEvery)
	}
	write(dropEvery)
	if n := residentPages(t, path); n > 1 {
		t.Fatalf("%d pages of %d MB of synced records still cached", n, (dropEvery+1<<20)>>20)
	}
	write(1 << 20)
	if n := residentPages(t, path); n < 200 {
		t.Fatalf("%d pages of the last 1 MB cached: dropped before the file grew by %d", n, dropEvery)
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
