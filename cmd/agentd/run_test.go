package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/gobuild"
	"github.com/ztagent/ztagent/internal/testenv/proc"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func TestMain(m *testing.M) { os.Exit(gobuild.Main(m)) }

// buildAgentd builds agentd once for the test binary and returns its path.
func buildAgentd(t *testing.T) string {
	t.Helper()
	return filepath.Join(gobuild.Build(t, false, "./cmd/agentd"), "agentd")
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
	// Bounds only reached when something is wrong.
	const startTimeout, callTimeout = time.Minute, time.Minute
	p := proc.Start(t, proc.Options{Bin: bin, Args: []string{"run", "--state-dir", filepath.Join(dir, "state"), "--socket", sock,
		"--keyring", "file", "--edge-api", "http://127.0.0.1:1", "--team", "acme", "--proxy-addr", "127.0.0.1:0", "--open-browser", "never"}})
	if _, _, err := p.WaitLine(proc.Stdout, 0, startTimeout, func(s string) bool { return strings.Contains(s, "listening on") }); err != nil {
		t.Fatalf("agentd did not start: %v", err)
	}
	startup := p.Ready()
	t.Logf("agentd started in %v", startup)

	c := ipc.NewClient(sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	start := time.Now()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if d, bound := time.Since(start), time.Second+startup; d > bound {
		t.Errorf("status took %v with the edge unreachable; REL3's 1 s and the %v agentd took to start allow %v", d, startup, bound)
	}
	// Right after it listens, agentd may still be reading the keyring
	// (connecting); with nothing saved it settles on unregistered.
	if st.State != ipcproto.StateUnregistered {
		waitForState(t, ctx, c, ipcproto.StateUnregistered)
	}

	start = time.Now()
	if !p.Stop(startTimeout) {
		t.Fatalf("agentd did not stop within %v of SIGTERM", startTimeout)
	}
	if err := p.Err(); err != nil {
		t.Fatalf("agentd after SIGTERM: %v", err)
	}
	if d, bound := time.Since(start), 5*time.Second+startup; d > bound {
		t.Fatalf("SIGTERM took %v; REL5's 5 s and the %v agentd took to start allow %v", d, startup, bound)
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

// waitForState follows agentd's events until its state is want.
func waitForState(t *testing.T, ctx context.Context, c *ipc.Client, want ipcproto.State) {
	t.Helper()
	st, err := c.Events(ctx)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	defer st.Close()
	for {
		ev, err := st.Next()
		if err != nil {
			t.Fatalf("agentd never reached %s: %v", want, err)
		}
		var state ipcproto.State
		switch ev.Type {
		case ipcproto.EventSnapshot:
			var s ipcproto.Status
			_ = json.Unmarshal(ev.Data, &s)
			state = s.State
		case ipcproto.EventStateChanged:
			var s ipcproto.StateChanged
			_ = json.Unmarshal(ev.Data, &s)
			state = s.To
		}
		if state == want {
			return
		}
	}
}
