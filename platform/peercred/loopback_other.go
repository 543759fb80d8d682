//go:build !linux

package peercred

import (
	"fmt"
	"net"
	"runtime"
)

func loopbackTCPOwner(_, _ *net.TCPAddr) (int, error) {
	return 0, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}
