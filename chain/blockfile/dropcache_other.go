//go:build !linux

package blockfile

// dropCache does nothing here: it is posix_fadvise on Linux.
func dropCache(f File, off, n int64) {}
