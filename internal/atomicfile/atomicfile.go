// Package atomicfile writes files so that a crash at any instant leaves
// either the old file or the complete new one, never a part: the data goes
// to a temporary file in the same directory, is synced, and is renamed (or
// hard-linked) into place, then the directory is synced.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned by Create when the file already exists.
var ErrExists = errors.New("file exists")

// Rename and Link are the last step of Write and Create; tests replace
// them to simulate a crash or a failing disk at that instant.
var (
	Rename = os.Rename
	Link   = os.Link
)

// Write replaces path with data (file mode mode).
func Write(path string, data []byte, mode fs.FileMode) error {
	return write(path, data, mode, false)
}

// Create writes data to path (file mode mode) only if path does not exist;
// otherwise it fails with ErrExists and leaves the file alone.
func Create(path string, data []byte, mode fs.FileMode) error {
	return write(path, data, mode, true)
}

func write(path string, data []byte, mode fs.FileMode, create bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		f.Close()
		if err != nil || create {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if create {
		// A hard link never replaces a file. Where links are not
		// supported, check then rename (only a concurrent creator races).
		if err := Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: %s", ErrExists, path)
			}
			if _, serr := os.Lstat(path); serr == nil {
				return fmt.Errorf("%w: %s", ErrExists, path)
			}
			if err := Rename(tmp, path); err != nil {
				return err
			}
		}
	} else if err := Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, so a file created or renamed in it survives
// a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
