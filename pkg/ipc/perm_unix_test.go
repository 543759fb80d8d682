//go:build unix

package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// copyTestBinary puts this test binary where the unprivileged uids can run
// it: go test builds it in a directory only its owner can enter.
func copyTestBinary(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "ipc.test")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// runAs runs the child as uid and returns its results by route.
func runAs(t *testing.T, bin, sock string, uid int) map[string]permResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
	cmd.Env = []string{permChildEnv + "=" + sock, "PATH=/usr/bin:/bin"}
	cmd.Dir = filepath.Dir(bin)
	// Groups left empty drops root's supplementary groups too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child as uid %d: %v\nstderr: %s", uid, err, stderr.String())
	}
	out := map[string]permResult{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), permPrefix)
		if !ok {
			continue
		}
		var r permResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("child line %q: %v", line, err)
		}
		if r.UID != uid {
			t.Fatalf("child ran as uid %d, want %d", r.UID, uid)
		}
		out[r.Route] = r
	}
	return out
}

// allowedBy is the table's answer, derived from DESIGN §4 independently of
// authorize.
func allowedBy(who Who, uid int, registered bool) bool {
	switch {
	case uid == 0 || who == Anyone:
		return true
	case who == RootOrOperator:
		return registered && uid == uidOperator
	case who == RootOrUnregistered:
		return !registered && testConsoleUser(uid)
	}
	return false
}

// testConsoleUser is the console rule of the permission test: the operator
// and uidConsole are people logged in here, nobody is not.
func testConsoleUser(uid int) bool { return uid == uidOperator || uid == uidConsole }

// TestPermissionTable calls every route as root, as the operator, as
// another console user and as a user who is not at the console (nobody),
// each a real process with its own credentials, while the device is
// registered and while it is not (SEC2).
func TestPermissionTable(t *testing.T) {
	realdeps.Root(t, "the permission table's callers run as other uids")
	dir := shortDir(t)
	// Callers of every uid must reach the socket and run the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := copyTestBinary(t, dir)

	for _, sc := range []struct {
		name       string
		registered bool
		uids       []int
	}{
		{"registered", true, []int{0, uidOperator, uidConsole, uidOther}},
		{"unregistered", false, []int{0, uidConsole, uidOther}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			sock := filepath.Join(dir, sc.name+".sock")
			ts := startServer(t, func(o *ServerOptions, f *fakeBackend) {
				o.SocketPath = sock
				f.operator, f.registered = uidOperator, sc.registered
				o.IsConsoleUser = testConsoleUser
			}, nil)
			for _, uid := range sc.uids {
				got := runAs(t, bin, sock, uid)
				if len(got) != len(designTable) {
					t.Errorf("uid %d: child reported %d routes, the table has %d", uid, len(got), len(designTable))
				}
				for route, who := range designTable {
					r, ok := got[route]
					if !ok {
						t.Errorf("uid %d: %s: not served", uid, route)
						continue
					}
					checkPermission(t, r, who, uid, sc.registered)
				}
			}
			ts.fake.mu.Lock()
			by := ts.fake.registeredBy
			ts.fake.mu.Unlock()
			// Register reached the backend with each admitted caller's uid.
			want := []int{0}
			if !sc.registered {
				want = append(want, uidConsole)
			}
			if fmt.Sprint(by) != fmt.Sprint(want) {
				t.Errorf("Register callers = %v, want %v", by, want)
			}
		})
	}
}

func checkPermission(t *testing.T, r permResult, who Who, uid int, registered bool) {
	t.Helper()
	if allowedBy(who, uid, registered) {
		if r.Status != 200 {
			t.Errorf("uid %d: %s (%v) = %d %s, want 200", uid, r.Route, who, r.Status, r.Code)
		}
		return
	}
	if r.Status != 403 || r.Code != ipcproto.CodePermissionDenied {
		t.Errorf("uid %d: %s (%v) = %d %s, want 403 permission_denied", uid, r.Route, who, r.Status, r.Code)
		return
	}
	var cmd string
	for _, rt := range Routes() {
		if routeKey(rt) == r.Route {
			cmd = rt.Command
		}
	}
	if !strings.Contains(r.Hint, cmd) {
		t.Errorf("uid %d: %s: hint %q does not name %q", uid, r.Route, r.Hint, cmd)
	}
	if who == RootOrUnregistered && !registered && !strings.Contains(r.Hint, "sudo "+cmd) {
		t.Errorf("uid %d (not at the console): %s: hint %q does not say to run `sudo %s`", uid, r.Route, r.Hint, cmd)
	}
	if who == RootOrOperator && registered {
		for _, want := range []string{"sudo " + cmd, fmt.Sprintf("uid %d", uidOperator), "registered this device"} {
			if !strings.Contains(r.Hint, want) {
				t.Errorf("uid %d: %s: hint %q does not say %q", uid, r.Route, r.Hint, want)
			}
		}
	}
}
