//go:build !unix

package tfconfig

import (
	"io/fs"
	"os"
)

// openNonblocking opens path for reading. Without O_NONBLOCK, a named
// pipe or device is refused from its metadata before it is opened; the
// caller checks the opened file again.
func openNonblocking(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if m := fi.Mode(); !m.IsRegular() && !m.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errNotRegular{m}}
	}
	return os.Open(path)
}
