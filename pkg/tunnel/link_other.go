//go:build !linux

package tunnel

import (
	"errors"
	"runtime"
)

// newTUNLink refuses: the TUN interface, its addresses and routes are only
// implemented for Linux.
func newTUNLink(settings, Options) (link, error) {
	return nil, errors.New("tun mode is not supported on " + runtime.GOOS + " yet: use proxy mode")
}
