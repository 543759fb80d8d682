//go:build unix

package tfconfig

import (
	"os"
	"syscall"
)

// openNonblocking opens path for reading with O_NONBLOCK, so that opening
// a named pipe returns at once instead of waiting for a writer; the caller
// refuses anything but a regular file, for which the flag changes nothing.
func openNonblocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
