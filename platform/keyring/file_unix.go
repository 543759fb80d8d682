//go:build !windows

package keyring

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/google/renameio/v2"
)

func checkPrivateDir(dir string, fi fs.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("keyring: %s belongs to uid %d, not to this process (uid %d); use a directory of your own", dir, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("keyring: %s has mode %#o, which lets other users in; run: chmod 700 %s", dir, perm, dir)
	}
	return nil
}

func checkPrivateFile(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("keyring: %s has mode %#o, but secrets must be readable by their owner only; run: chmod 600 %s", path, perm, path)
	}
	return nil
}

// writeAtomic writes data to path through a temporary file in dir: renameio
// writes, fsyncs and renames it; it does not fsync the directory, so we do,
// or the rename itself could be lost in a power cut.
func writeAtomic(dir, path, _ string, data []byte) error {
	pf, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o600), renameio.WithTempDir(dir))
	if err != nil {
		return err
	}
	defer pf.Cleanup()
	if _, err := pf.Write(data); err != nil {
		return err
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockDir opens path and takes an exclusive, non-blocking flock on it.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
