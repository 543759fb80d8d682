package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func buildAgentd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agentd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestRunAnswersAndStopsWithinFiveSeconds runs agentd as users do, against
// an edge that is not there: the IPC answers at once (REL3) and SIGTERM
// stops it cleanly within 5 s (REL5).
func TestRunAnswersAndStopsWithinFiveSeconds(t *testing.T) {
	bin := buildAgentd(t)
	dir, err := os.MkdirTemp("", "agentd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agentd.sock")
	cmd := exec.Command(bin, "run", "--state-dir", filepath.Join(dir, "state"), "--socket", sock,
		"--keyring", "file", "--edge-api", "http://127.0.0.1:1", "--team", "acme", "--proxy-addr", "127.0.0.1:0", "--open-browser", "never")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(ready)
			}
		}
		exited <- cmd.Wait()
	}()
	defer func() {
		_ = cmd.Process.Kill()
	}()
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("agentd exited: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("agentd did not start within 30s\n%s", stderr.String())
	}

	c := ipc.NewClient(sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	st, err := c.Status(ctx)
	if err != nil || st.State != ipcproto.StateUnregistered {
		t.Fatalf("status: %+v %v", st, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("status took %v with the edge unreachable", d)
	}

	start = time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("agentd after SIGTERM: %v\n%s", err, stderr.String())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("SIGTERM took %v; REL5 wants under 5 s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("agentd did not stop within 10s of SIGTERM\n%s", stderr.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after a clean stop: %v", err)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"run", "--mode", "bogus", "--state-dir", t.TempDir()},
		{"run", "--log-format", "xml", "--state-dir", t.TempDir()},
		{"nope"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("agentd %v: exit %d, want 2\n%s", args, code, errb.String())
		}
	}
}
