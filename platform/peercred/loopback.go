package peercred

import (
	"errors"
	"net"
)

// ErrOwnerNotFound is returned when no local socket matches the peer of a
// loopback TCP connection: the client closed it, or it came from another
// network namespace.
var ErrOwnerNotFound = errors.New("no local socket owns the other end of this connection")

// ErrNotLoopbackTCP is returned for a connection that is not TCP between two
// loopback addresses, whose peer is not a process on this host.
var ErrNotLoopbackTCP = errors.New("the owner of a peer is known only for loopback TCP connections")

// LoopbackTCPOwner returns the uid that owns the client end of c, a TCP
// connection accepted on a loopback address. Unlike a unix socket, TCP has
// no peer credentials, but on a loopback connection both ends live in this
// host's socket table, which records the owner of each. The enrollment
// callback uses it to accept only the browser of the user who asked.
// ErrUnsupported is returned where the socket table cannot be read.
func LoopbackTCPOwner(c net.Conn) (int, error) {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok || !local.IP.IsLoopback() || !remote.IP.IsLoopback() {
		return 0, ErrNotLoopbackTCP
	}
	return loopbackTCPOwner(local, remote)
}
