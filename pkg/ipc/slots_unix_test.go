//go:build unix

package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// holder is a child process holding connections as another uid.
type holder struct {
	results []holdResult
	stdin   io.Closer
	cmd     *exec.Cmd
	stderr  *bytes.Buffer
}

// hold starts a child as uid that makes n requests of path, each on its own
// connection, and returns once it holds them all; they are released at the
// end of the test.
func hold(t *testing.T, bin, sock string, uid, n int, path string) *holder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
	cmd.Env = []string{holdChildEnv + "=" + sock, fmt.Sprintf("%s=%d", holdNEnv, n), holdPathEnv + "=" + path, "PATH=/usr/bin:/bin"}
	cmd.Dir = filepath.Dir(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	h := &holder{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = h.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holder as uid %d: %v\nstderr: %s", uid, err, h.stderr.String())
		}
		cancel()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if line == holdReady {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return h
		}
		if js, ok := strings.CutPrefix(line, holdPrefix); ok {
			var r holdResult
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				t.Fatalf("holder line %q: %v", line, err)
			}
			if r.UID != uid {
				t.Fatalf("holder ran as uid %d, want %d", r.UID, uid)
			}
			h.results = append(h.results, r)
		}
	}
	t.Fatalf("holder as uid %d ended before holding its connections: %v\nstderr: %s", uid, sc.Err(), h.stderr.String())
	return nil
}

// statuses returns the holder's answers, "200" or "503 too_many_clients".
func (h *holder) statuses() []string {
	var out []string
	for _, r := range h.results {
		s := fmt.Sprint(r.Status)
		if r.Code != "" && r.Status != http.StatusOK {
			s += " " + r.Code
		}
		out = append(out, s)
	}
	return out
}

func needRootForUIDs(t *testing.T) string {
	t.Helper()
	realdeps.Root(t, "callers run as other uids")
	dir := shortDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// Item 5 of issue 12: one user's idle keep-alive connections (nobody's,
// here, from a real process of that uid) used to take every slot of the
// shared cap, locking root and the operator out. Now each uid has its own
// limit, ordinary users share a pool, and root and the operator keep
// slots of their own.
func TestOneUsersConnectionsCannotLockOutRootOrTheOperator(t *testing.T) {
	dir := needRootForUIDs(t)
	bin := copyTestBinary(t, dir)
	sock := filepath.Join(dir, "agentd.sock")
	const perUser, shared = 4, 6
	ts := startServer(t, func(o *ServerOptions, f *fakeBackend) {
		o.SocketPath = sock
		o.MaxConnsPerUser, o.MaxConns = perUser, shared
		o.IdleTimeout = 5 * time.Minute // the holders must not be timed out during the test
		f.operator, f.registered = uidOperator, true
	}, nil)

	attacker := hold(t, bin, sock, uidOther, perUser+2, "/v1/status")
	if got, want := attacker.statuses(), append(repeat("200", perUser), repeat("503 too_many_clients", 2)...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("nobody's connections: %v, want %v", got, want)
	}
	if r := attacker.results[perUser]; !strings.Contains(r.Message, fmt.Sprintf("you (uid %d) already have %d", uidOther, perUser)) || !strings.Contains(r.Hint, "your own") {
		t.Errorf("refusal over its own limit does not say the connections are its own: %+v", r)
	}
	// A second ordinary user takes the rest of the shared pool.
	other := hold(t, bin, sock, uidConsole, 3, "/v1/status")
	if got, want := other.statuses(), []string{"200", "200", "503 too_many_clients"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("a second user's connections: %v, want %v", got, want)
	}
	if r := other.results[2]; !strings.Contains(r.Message, "other users") {
		t.Errorf("refusal for a full pool does not say other users hold it: %+v", r)
	}
	if got := ts.srv.connSlots.held(uidOther); got != perUser {
		t.Fatalf("nobody holds %d connections, want %d", got, perUser)
	}

	// Root and the operator are still served, each up to its own limit.
	op := hold(t, bin, sock, uidOperator, perUser, "/v1/status")
	if got := op.statuses(); fmt.Sprint(got) != fmt.Sprint(repeat("200", perUser)) {
		t.Fatalf("the operator while others hold the pool: %v", got)
	}
	if _, err := ts.client.Status(t.Context()); err != nil {
		t.Fatalf("root while others hold the pool: %v", err)
	}
}

// Item 6 of issue 12: subscribers that never read, from one uid, used to
// hold every subscriber slot; `agentctl watch` and `register --wait` of
// the operator then failed. Now streams are capped per uid like
// connections, with streams of their own for root and the operator.
func TestOneUsersSubscribersCannotLockOutRootOrTheOperator(t *testing.T) {
	dir := needRootForUIDs(t)
	bin := copyTestBinary(t, dir)
	sock := filepath.Join(dir, "agentd.sock")
	const perUser, shared = 2, 3
	ts := startServer(t, func(o *ServerOptions, f *fakeBackend) {
		o.SocketPath = sock
		o.MaxSubscribersPerUser, o.MaxSubscribers = perUser, shared
		f.operator, f.registered = uidOperator, true
	}, nil)

	attacker := hold(t, bin, sock, uidOther, perUser+1, "/v1/events")
	if got, want := attacker.statuses(), []string{"200", "200", "503 too_many_clients"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("nobody's streams: %v, want %v", got, want)
	}
	if r := attacker.results[perUser]; !strings.Contains(r.Message, fmt.Sprintf("you (uid %d)", uidOther)) || !strings.Contains(r.Message, "event streams") {
		t.Errorf("refusal over its own limit: %+v", r)
	}
	other := hold(t, bin, sock, uidConsole, 2, "/v1/events")
	if got, want := other.statuses(), []string{"200", "503 too_many_clients"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("a second user's streams: %v, want %v", got, want)
	}

	op := hold(t, bin, sock, uidOperator, perUser, "/v1/events")
	if got := op.statuses(); fmt.Sprint(got) != fmt.Sprint(repeat("200", perUser)) {
		t.Fatalf("the operator's streams while others hold the pool: %v", got)
	}
	s, err := ts.client.Events(t.Context())
	if err != nil {
		t.Fatalf("root's stream while others hold the pool: %v", err)
	}
	defer s.Close()
	if ev, err := nextWithin(t, s); err != nil || ev.Type != ipcproto.EventSnapshot {
		t.Fatalf("root's snapshot: %+v, %v", ev, err)
	}
}
