//go:build !linux && !darwin

package peercred

import (
	"fmt"
	"net"
	"runtime"
)

func get(*net.UnixConn) (Cred, error) {
	return Cred{}, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
}
