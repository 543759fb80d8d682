//go:build unix

package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFileName holds the pid of the agentd that owns the state directory.
const lockFileName = "agent.lock"

// lockStateDir takes an exclusive lock on dir for this process's life (the
// kernel drops it when the process dies, however it dies), so that two
// daemons never share one state directory, and it is then safe to remove
// temporary files an earlier, killed daemon left behind.
func lockStateDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the state directory's lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			who := "another agentd"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				if _, perr := strconv.Atoi(pid); perr == nil {
					who += " (pid " + pid + ")"
				}
			}
			return nil, fmt.Errorf("%s already uses the state directory %s; stop it first, or give this one its own --state-dir and --socket", who, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
