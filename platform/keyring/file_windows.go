//go:build windows

package keyring

import (
	"io/fs"
	"os"
)

// On Windows the profile directory's ACL, not mode bits, keeps other users
// out; the store does not check it (SEC8 is enforced on Unix only).
func checkPrivateDir(string, fs.FileInfo) error  { return nil }
func checkPrivateFile(string, fs.FileInfo) error { return nil }

// writeAtomic writes a temporary file, flushes it and renames it over path
// (MoveFileEx with MOVEFILE_REPLACE_EXISTING, which os.Rename uses).
func writeAtomic(dir, path, prefix string, data []byte) error {
	tmp, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func syncDir(string) error { return nil }

// lockDir opens the lock file; Windows already refuses a second writer of a
// file that is open, and the store is single-process by design.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
