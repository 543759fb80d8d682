//go:build unix

package ipc

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func newServerAt(t *testing.T, sock string) (*Server, error) {
	t.Helper()
	srv, err := NewServer(ServerOptions{SocketPath: sock, Backend: newFakeBackend()})
	if err == nil {
		t.Cleanup(func() { srv.Close() })
	}
	return srv, err
}

func TestSocketModeAndRemovalOnClose(t *testing.T) {
	sock := filepath.Join(shortDir(t), "agentd.sock")
	srv, err := newServerAt(t, sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket mode = %v, want a socket with 0666", fi.Mode())
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket still there after Close: %v", err)
	}
}

func TestMissingSocketDirectoryIsCreated0755(t *testing.T) {
	dir := filepath.Join(shortDir(t), "run")
	if _, err := newServerAt(t, filepath.Join(dir, "agentd.sock")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("created directory: %v, %v; want 0755", fi.Mode(), err)
	}
}

func TestUnsafeSocketDirectoriesAreRefused(t *testing.T) {
	base := shortDir(t)
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{link: "symlink"}
	for i, mode := range []os.FileMode{0o777, 0o775, 0o757, 0o777 | os.ModeSticky} {
		d := filepath.Join(base, "m"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		cases[d] = "writable by group or others"
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, uidOther, uidOther); err != nil {
			t.Fatal(err)
		}
		cases[other] = "owned by nobody (uid 65534)"
	}
	for dir, want := range cases {
		_, err := newServerAt(t, filepath.Join(dir, "agentd.sock"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one saying %q", dir, err, want)
		}
		if _, serr := os.Lstat(filepath.Join(dir, "agentd.sock")); serr == nil {
			t.Errorf("%s: a socket was created despite the refusal", dir)
		}
		// The client refuses the same directories before it connects
		// (item 7 of issue 12): one of them could hold a fake agentd.
		c := NewClient(filepath.Join(dir, "agentd.sock"))
		_, err = c.Status(t.Context())
		var ue *UntrustedDaemonError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), filepath.Join(dir, "agentd.sock")) {
			t.Errorf("client at %s: err = %v, want an UntrustedDaemonError saying %q", dir, err, want)
		}
		c.Close()
	}
}

func TestStaleSocketIsReplacedButNothingElse(t *testing.T) {
	dir := shortDir(t)

	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := newServerAt(t, stale); err != nil {
		t.Fatalf("stale socket: %v", err)
	}

	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newServerAt(t, file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Fatal("the regular file was touched")
	}

	live := filepath.Join(dir, "live.sock")
	if _, err := newServerAt(t, live); err != nil {
		t.Fatal(err)
	}
	if _, err := newServerAt(t, live); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("second server on a live socket: %v", err)
	}
	if c, err := net.Dial("unix", live); err != nil {
		t.Fatalf("the first server's socket was removed: %v", err)
	} else {
		c.Close()
	}
}

func TestCloseLeavesAnotherDaemonsSocket(t *testing.T) {
	sock := filepath.Join(shortDir(t), "agentd.sock")
	srv, err := newServerAt(t, sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("Close removed a socket it did not make: %v", err)
	}
}
