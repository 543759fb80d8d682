// Package peercred reads the kernel's credentials of the process at the other
// end of a unix socket (SEC1): the IPC server trusts these, never anything a
// caller says about itself.
package peercred

import (
	"errors"
	"net"
)

// Cred is the peer process's identity as the kernel recorded it when the
// connection was made.
type Cred struct {
	UID int
	GID int
	PID int
	// SID is a Windows caller's user SID ("S-1-5-21-…"); empty elsewhere.
	SID string
}

// ErrUnsupported is returned on systems where ztagent does not read peer
// credentials yet; the IPC server refuses every caller rather than guess.
var ErrUnsupported = errors.New("peer credentials are not supported on this operating system")

// ErrNotUnix is returned for a connection that is not a unix socket, whose
// peer the kernel cannot name.
var ErrNotUnix = errors.New("peer credentials need a unix socket connection")

// Get returns the credentials of the process at the other end of c: a
// *net.UnixConn, or on Windows a named pipe's server end.
func Get(c net.Conn) (Cred, error) { return getConn(c) }
