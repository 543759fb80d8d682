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
// stops it cleanly within 5 s (REL5). Those bounds are for a machine that
// is doing nothing else; on this one the time agentd took to start, as
// measured here, is added to each, so that a busy machine slows the bound
// with the daemon and the test still fails a daemon that waits on the
// edge or on a timer.
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
	launched := time.Now()
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
	// Bounds only reached when something is wrong.
	const startTimeout, callTimeout = time.Minute, time.Minute
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("agentd exited: %v\n%s", err, stderr.String())
	case <-time.After(startTimeout):
		t.Fatalf("agentd did not start within %v\n%s", startTimeout, stderr.String())
	}
	startup := time.Since(launched)
	t.Logf("agentd started in %v", startup)

	c := ipc.NewClient(sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	st, err := c.Status(ctx)
	if err != nil || st.State != ipcproto.StateUnregistered {
		t.Fatalf("status: %+v %v", st, err)
	}
	if d, bound := time.Since(start), time.Second+startup; d > bound {
		t.Errorf("status took %v with the edge unreachable; REL3's 1 s and the %v agentd took to start allow %v", d, startup, bound)
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
		if d, bound := time.Since(start), 5*time.Second+startup; d > bound {
			t.Fatalf("SIGTERM took %v; REL5's 5 s and the %v agentd took to start allow %v", d, startup, bound)
		}
	case <-time.After(startTimeout):
		t.Fatalf("agentd did not stop within %v of SIGTERM\n%s", startTimeout, stderr.String())
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
