package tfconfig

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// MaxFileBytes is the largest configuration file (.tf, tfvars, simulator
// file) the loader reads. Real Zero Trust configurations are kilobytes; a
// list of tens of thousands of domains is a few hundred kilobytes. The
// limit exists so that a symbolic link to /dev/zero, or a file that keeps
// growing, cannot fill the edge's memory.
const MaxFileBytes = 4 << 20

// errNotRegular says a configuration file is a pipe, socket, device or
// directory: reading one could block forever or never end.
type errNotRegular struct{ mode fs.FileMode }

func (e errNotRegular) Error() string {
	return fmt.Sprintf("it is a %s, not a regular file, and reading it could block forever or never end", fileKind(e.mode))
}

var errTooLarge = fmt.Errorf("it is larger than %d MiB, the most the simulator reads from one configuration file", MaxFileBytes>>20)

// osDir is os.DirFS, except that files are opened without blocking (a
// named pipe opens at once and is then refused by readConfigFile instead
// of waiting for a writer forever).
type osDir struct {
	dir  string
	base fs.FS
}

func newOSDir(dir string) osDir { return osDir{dir: dir, base: os.DirFS(dir)} }

// Open opens name without blocking on a named pipe.
func (d osDir) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	f, err := openNonblocking(filepath.Join(d.dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Stat returns the file's information after symbolic links, without
// opening it.
func (d osDir) Stat(name string) (fs.FileInfo, error) { return fs.Stat(d.base, name) }

// ReadDir lists a directory.
func (d osDir) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(d.base, name) }

// readConfigFile reads one configuration file, refusing what is not a
// regular file once opened (so that a symbolic link swapped meanwhile is
// still caught) and what is larger than MaxFileBytes. The read itself is
// bounded, so a file that grows after the size check cannot exceed the
// limit either.
func readConfigFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	return readOpened(f)
}

// readSimFile reads the simulator file at path like readConfigFile.
func readSimFile(path string) ([]byte, error) {
	f, err := openNonblocking(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	return readOpened(f)
}

func readOpened(f fs.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular{fi.Mode()}
	}
	if fi.Size() > MaxFileBytes {
		return nil, errTooLarge
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(src) > MaxFileBytes {
		return nil, errTooLarge
	}
	return src, nil
}

// readErrorHint returns what to do about a read error: a special or
// oversized file needs a different file, anything else permissions.
func readErrorHint(err error, otherwise string) string {
	var nr errNotRegular
	if errors.As(err, &nr) || errors.Is(err, errTooLarge) {
		return "point the configuration at a regular text file"
	}
	return otherwise
}

// checkText refuses a file that is not UTF-8 text in one line, instead of
// letting the parser report every byte of a binary file (a 5 MB binary
// .tf gave 185,000 errors). Terraform requires UTF-8 as well.
func (l *loader) checkText(src []byte, filename string) bool {
	line, col := 1, 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		switch {
		case r == 0:
			l.d.at(Error, Pos{File: filename, Line: line, Column: col}, "this file holds a NUL byte, so it is binary, not a configuration file; the simulator reads UTF-8 text only")
			return false
		case r == utf8.RuneError && size == 1:
			l.d.at(Error, Pos{File: filename, Line: line, Column: col}, "this file is not UTF-8 text (invalid byte 0x%02x); save it as UTF-8, as Terraform requires", src[i])
			return false
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return true
}

// fileRange is a file as a whole, for diagnostics about all of it.
func fileRange(filename string) hcl.Range {
	return hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
}
