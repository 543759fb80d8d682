//go:build linux

package peercred

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// get reads SO_PEERCRED, which Linux fills in at connect(2) time: a caller
// that changes its uid afterwards, or passes the socket on, is still known
// by the identity it had when it connected.
func get(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var (
		ucred   *unix.Ucred
		credErr error
	)
	if err := raw.Control(func(fd uintptr) {
		ucred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return Cred{}, fmt.Errorf("peer credentials: SO_PEERCRED: %w", credErr)
	}
	return Cred{UID: int(ucred.Uid), GID: int(ucred.Gid), PID: int(ucred.Pid)}, nil
}
