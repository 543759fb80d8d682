//go:build !windows

package peercred

import "net"

func getConn(c net.Conn) (Cred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Cred{}, ErrNotUnix
	}
	return get(uc)
}
