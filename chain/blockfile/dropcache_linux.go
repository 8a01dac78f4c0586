package blockfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropCache asks the kernel to drop n bytes of f from offset off out of
// the page cache: clean pages go at once, dirty ones (Options.NoSync)
// are queued for writeback and stay. Only a real file has pages to drop;
// a failure leaves them cached, which is all it costs.
func dropCache(f File, off, n int64) {
	if osf, ok := f.(*os.File); ok && n > 0 {
		_ = unix.Fadvise(int(osf.Fd()), off, n, unix.FADV_DONTNEED)
	}
}
