package keyring

import (
	"errors"
	"strings"
	"testing"
)

func TestSystemStoreWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if (linuxPlatform{}).reachable() == nil {
		t.Skip("this machine has /run/user/UID/bus, so a session bus is always found")
	}
	_, err := OpenSystem("ztagent-test")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "DBUS_SESSION_BUS_ADDRESS") {
		t.Fatalf("err = %v", err)
	}
}
