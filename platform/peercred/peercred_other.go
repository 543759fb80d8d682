//go:build !linux && !darwin && !windows

package peercred

import (
	"fmt"
	"net"
	"runtime"
)

func get(*net.UnixConn) (Cred, error) {
	return Cred{}, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}
