//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// lockPath is the single-instance lock: in $XDG_RUNTIME_DIR, the user's
// own, else a per-uid name in the temporary directory.
func lockPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "ztagent-tray.lock")
	}
	return filepath.Join(os.TempDir(), "ztagent-tray-"+strconv.Itoa(os.Getuid())+".lock")
}

// singleInstance takes the user's tray lock, or says that another tray
// holds it. The kernel drops the lock when the process ends, however it
// ends, so a crash leaves nothing to clean up.
func singleInstance() (release func(), err error) {
	path := lockPath()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the single-instance lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another agenttray is already running in this session (it holds %s); quit it from its menu first", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
