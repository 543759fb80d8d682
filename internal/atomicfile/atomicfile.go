// Package atomicfile replaces a file's contents so that a crash at any
// moment leaves the old contents or the new, never a mix or an empty
// file: the data goes to a temporary file in the same directory, is
// synced, and is renamed over the target. On unix systems it is
// github.com/google/renameio (which also syncs the directory); on Windows,
// where renameio has no WriteFile, the same steps with MoveFileEx's
// write-through replace.
package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces path's contents with data, with permissions perm
// (on Windows only the read-only bit means anything).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm)
}

// viaRename is WriteFile by hand: a temporary file next to path, written,
// given perm, synced, closed and renamed over path with rename, which
// must replace an existing file in one step. A failure removes the
// temporary file.
func viaRename(path string, data []byte, perm fs.FileMode, rename func(from, to string) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}
