package freeport

import (
	"net"
	"testing"

	"go.uber.org/goleak"
)

// The ports come from below the kernel's ephemeral range, so a listener
// on ":0" can never be given one, and two calls give two ports.
func TestPortsAvoidTheEphemeralRange(t *testing.T) {
	base, ok := spanBase()
	if !ok {
		t.Skip("this machine's ephemeral range leaves no room below it")
	}
	a, b := TCP(t), TCP(t)
	for _, p := range []uint16{a.Port(), b.Port(), UDP(t).Port()} {
		if p < base || p >= base+span {
			t.Errorf("port %d is outside %d..%d", p, base, base+span-1)
		}
	}
	if a == b {
		t.Errorf("two calls gave %v twice", a)
	}
	ln, err := net.Listen("tcp", a.String())
	if err != nil {
		t.Fatalf("the port is not free: %v", err)
	}
	ln.Close()
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
