//go:build unix

package ipc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Item 7 of issue 12: another user's fake daemon, listening where the
// client looks (as in /tmp/ztagent-<uid> when XDG_RUNTIME_DIR is unset),
// was handed agentctl's requests and answered register with its own URL.
// The client now checks who answers before it sends anything.
func TestClientRefusesAFakeDaemonOfAnotherUser(t *testing.T) {
	dir := needRootForUIDs(t)
	bin := copyTestBinary(t, dir)
	// nobody must be able to make its socket here; the directory is made
	// safe again below, so that only the peer check can catch the fake.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agentd.sock")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
	cmd.Env = []string{fakeDaemonEnv + "=" + sock, "PATH=/usr/bin:/bin"}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uidOther, Gid: uidOther}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		if err := cmd.Wait(); err != nil {
			t.Errorf("fake daemon: %v\nstderr: %s", err, stderr.String())
		}
	}()
	lines := bufio.NewScanner(stdout)
	nextLine := func(what string) string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("fake daemon ended before %s: %v\nstderr: %s", what, lines.Err(), stderr.String())
		}
		return lines.Text()
	}
	if l := nextLine("listening"); l != fakeDaemonReady {
		t.Fatalf("fake daemon said %q", l)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	c := NewClient(sock)
	defer c.Close()
	au, err := c.Register(t.Context(), ipcproto.RegisterRequest{})
	var ue *UntrustedDaemonError
	if !errors.As(err, &ue) || ue.UID != uidOther {
		t.Fatalf("Register on nobody's fake daemon = %+v, %v; want an UntrustedDaemonError naming uid %d", au, err, uidOther)
	}
	for _, want := range []string{sock, "nobody (uid 65534)", "not by root or by you (uid 0)", "nothing was sent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := c.Events(t.Context()); !errors.As(err, &ue) {
		t.Fatalf("Events on the fake daemon: %v, want an UntrustedDaemonError", err)
	}
	// Each connection was closed before a byte of a request was sent.
	for i := 0; i < 2; i++ {
		if l := nextLine("reporting a connection"); l != fakeDaemonNothing {
			t.Fatalf("connection %d: the fake daemon says %q", i, l)
		}
	}
}
