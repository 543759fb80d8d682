package peercred

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGetReturnsThisProcessOverARealSocket(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("peer credentials are only read on linux and macOS")
	}
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer server.Close()

	got, err := Get(server)
	if err != nil {
		t.Fatal(err)
	}
	want := Cred{UID: os.Getuid(), GID: os.Getgid(), PID: os.Getpid()}
	if got != want {
		t.Fatalf("Get = %+v, want %+v", got, want)
	}
}

func TestGetRefusesNonUnixConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := Get(a); !errors.Is(err, ErrNotUnix) {
		t.Fatalf("Get(pipe) error = %v, want ErrNotUnix", err)
	}
}
