//go:build linux

package peercred

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"testing"
)

func TestLoopbackTCPOwnerIsThisProcessUser(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	uid, err := LoopbackTCPOwner(server)
	if err != nil {
		t.Fatalf("LoopbackTCPOwner: %v", err)
	}
	if uid != os.Getuid() {
		t.Fatalf("owner uid %d, want %d", uid, os.Getuid())
	}
}

func TestSameEndpointReadsKernelFormat(t *testing.T) {
	// What /proc/net/tcp prints for 127.0.0.1:8080 on this host's byte order.
	field := fmt.Sprintf("%08X:1F90", binary.NativeEndian.Uint32([]byte{127, 0, 0, 1}))
	if !sameEndpoint(field, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}) {
		t.Fatalf("%s does not name 127.0.0.1:8080", field)
	}
	if sameEndpoint(field, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8081}) {
		t.Fatal("port ignored")
	}
}

func TestLoopbackTCPOwnerRefusesOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := LoopbackTCPOwner(a); err != ErrNotLoopbackTCP {
		t.Fatalf("pipe: err %v, want ErrNotLoopbackTCP", err)
	}
}
