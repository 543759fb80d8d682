package ipc

import (
	"os"
	"syscall"
)

// IsConsoleUser reports whether uid belongs to the person at this Mac's
// screen, who may register an unregistered device: the owner of
// /dev/console, which macOS gives to the user logged in at the GUI. When
// nobody is (the console belongs to root), no user qualifies.
func IsConsoleUser(uid int) bool {
	if uid <= 0 {
		return false
	}
	fi, err := os.Stat("/dev/console")
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}
