// Package freeport finds free loopback ports for tests that must name a
// port up front (to restart a server on the same address, or to pass it to
// a process). The port is released before it is returned, so another
// process could take it in between; tests accept that small race.
package freeport

import (
	"net"
	"net/netip"
	"testing"
)

// TCP returns a free TCP address on 127.0.0.1.
func TCP(t testing.TB) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// UDP returns a free UDP address on 127.0.0.1.
func UDP(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}
