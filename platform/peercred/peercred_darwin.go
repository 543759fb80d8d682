//go:build darwin

package peercred

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// get reads LOCAL_PEERCRED and LOCAL_PEERPID, which macOS records when the
// connection is made, as Linux does SO_PEERCRED. The xucred has no primary
// gid of its own; its first group is the effective gid.
func get(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var (
		xu      *unix.Xucred
		pid     int
		credErr error
	)
	if err := raw.Control(func(fd uintptr) {
		xu, credErr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if credErr == nil {
			pid, credErr = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return Cred{}, fmt.Errorf("peer credentials: LOCAL_PEERCRED: %w", credErr)
	}
	gid := -1
	if xu.Ngroups > 0 {
		gid = int(xu.Groups[0])
	}
	return Cred{UID: int(xu.Uid), GID: gid, PID: pid}, nil
}
