//go:build linux

package keyring

import (
	"errors"
	"fmt"
	"os"

	"github.com/godbus/dbus/v5"
)

type linuxPlatform struct{}

func newSystemPlatform() systemPlatform { return linuxPlatform{} }

// reachable refuses when godbus would find no session bus address (it looks
// at the variable, then at /run/user/UID/bus): it would then run dbus-launch, which starts a stray bus (or fails slowly) in a
// daemon with no desktop session.
func (linuxPlatform) reachable() error {
	if addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); addr != "" && addr != "autolaunch:" {
		return nil
	}
	bus := fmt.Sprintf("/run/user/%d/bus", os.Getuid())
	if _, err := os.Stat(bus); err == nil {
		return nil
	}
	return errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no " + bus + "), so no Secret Service can answer")
}

// abort closes the process's shared session-bus connection, which go-keyring
// uses: pending calls on it return with an error, and the next call
// reconnects (godbus replaces a closed shared connection). Nothing else in
// ztagent uses the session bus. It runs in its own goroutine because godbus
// holds the shared connection's lock while it connects, and a bus daemon that
// stopped mid-connect would block it; the returned channel closes when done.
func (linuxPlatform) abort() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if conn, err := dbus.SessionBus(); err == nil {
			_ = conn.Close()
		}
	}()
	return done
}
