// Package secretservice starts a real, private Secret Service for tests: a
// D-Bus session bus under dbus-run-session with gnome-keyring-daemon on it and
// an unlocked default collection, in a throw-away home directory so the
// developer's own keyrings are never touched.
package secretservice

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
)

// RequireEnv, when set to 1 (make test sets it), turns a missing tool into a
// test failure instead of a skip, so CI cannot pass by skipping.
const RequireEnv = realdeps.Env

// Bus is a running private session bus with a Secret Service on it.
type Bus struct {
	// Address is the bus's DBUS_SESSION_BUS_ADDRESS.
	Address string
	// KeyringPID is the gnome-keyring-daemon's process ID.
	KeyringPID int
	// Env is the environment a child process needs to use this bus.
	Env []string
}

// Options configures Start.
type Options struct {
	// Stopped freezes gnome-keyring-daemon with SIGSTOP once it owns the
	// Secret Service name: calls reach the bus and are never answered.
	Stopped bool
}

// startTimeout bounds bringing the bus and the keyring up.
const startTimeout = 20 * time.Second

// script runs inside dbus-run-session: it starts and unlocks the keyring,
// reports the keyring's PID and the bus address, then waits for its standard
// input to close (the test's cleanup), after which dbus-run-session ends
// the bus.
const script = `set -e
# In the foreground (backgrounded by the shell) the daemon stays in this
# process group, so the test can always kill it, even if start-up fails.
printf %s "$ZT_KEYRING_PASSWORD" | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
echo "pid=$!"
# Wait for it to claim its bus name (10 s at most).
owner() { dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
  org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; }
i=0; until owner; do i=$((i+1)); [ $i -lt 200 ] || { echo "gnome-keyring-daemon did not claim org.freedesktop.secrets" >&2; exit 1; }; sleep 0.05; done
if [ "$ZT_STOP_KEYRING" = 1 ]; then kill -STOP "$!"; fi
echo "address=$DBUS_SESSION_BUS_ADDRESS"
echo ready
exec cat >/dev/null
`

// Available reports why a real Secret Service cannot be started here, or "".
func Available() string {
	for _, tool := range []string{"dbus-run-session", "dbus-send", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not installed (run: make deps)"
		}
	}
	return ""
}

// Start brings up a private Secret Service and stops it when the test ends.
// Without the tools it skips the test, or fails it when RequireEnv is set.
func Start(t testing.TB, opts Options) *Bus {
	t.Helper()
	if why := Available(); why != "" {
		realdeps.Missing(t, "a real Secret Service", why)
	}
	home := t.TempDir()
	runtime := filepath.Join(home, "run")
	if err := os.Mkdir(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_RUNTIME_DIR="+runtime,
		"ZT_KEYRING_PASSWORD=ztagent-test",
		"ZT_STOP_KEYRING="+map[bool]string{true: "1", false: "0"}[opts.Stopped],
	)
	cmd := exec.Command("dbus-run-session", "--", "sh", "-c", script)
	cmd.Env = env
	cmd.SysProcAttr = ownGroup()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-run-session: %v", err)
	}
	bus := &Bus{}
	waited := make(chan error, 1)
	t.Cleanup(func() {
		if bus.KeyringPID > 0 {
			// A stopped daemon would never notice its bus going away.
			killPID(bus.KeyringPID)
		}
		stdin.Close()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			killPID(-cmd.Process.Pid)
			<-waited
		}
	})

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		waited <- cmd.Wait()
	}()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("Secret Service did not start: %s", strings.TrimSpace(stderr.String()))
			}
			key, val, _ := strings.Cut(line, "=")
			switch key {
			case "address":
				bus.Address = val
			case "pid":
				bus.KeyringPID, _ = strconv.Atoi(val)
			case "ready":
				if bus.Address == "" {
					t.Fatal("Secret Service started without reporting its bus address")
				}
				bus.Env = append(env, "DBUS_SESSION_BUS_ADDRESS="+bus.Address)
				return bus
			}
		case <-deadline.C:
			t.Fatalf("Secret Service did not start within %v: %s", startTimeout, strings.TrimSpace(stderr.String()))
		}
	}
}

// String describes the bus for test logs.
func (b *Bus) String() string {
	return fmt.Sprintf("session bus %s, gnome-keyring-daemon pid %d", b.Address, b.KeyringPID)
}
