package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked means another process holds the datadir.
var ErrLocked = errors.New("datadir is in use by another noded")

// lockDataDir takes an exclusive advisory lock on <dir>/noded.lock, held
// until the returned file is closed (or the process dies).
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "noded.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock datadir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s (stop the other node or use another --datadir)", ErrLocked, dir)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}
