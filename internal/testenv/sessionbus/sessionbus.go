// Package sessionbus starts a private D-Bus session bus for a test: a
// dbus-daemon of its own, on a socket in the test's directory, that every
// local user may connect to, so that a test running as root can play the
// desktop (a StatusNotifierWatcher, a notification service) for a tray
// that runs as a person's uid. It stops when the test ends.
package sessionbus

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
)

// config is the bus's configuration: a session bus that admits any uid
// (the point of the private bus) and lets everyone own names and send.
const config = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// Bus is a running private bus.
type Bus struct {
	// Address is the bus's DBUS_SESSION_BUS_ADDRESS.
	Address string
}

// Env returns the environment variable that points a child at the bus.
func (b *Bus) Env() string { return "DBUS_SESSION_BUS_ADDRESS=" + b.Address }

// Options configures Start.
type Options struct {
	// Users are uids, with no account on this machine, that may connect:
	// dbus-daemon admits only uids it can look up, so it sees them in a
	// passwd file of its own through nss_wrapper (libnss-wrapper).
	Users []int
}

// Start starts a bus that lives until t ends. A missing dbus-daemon skips
// t, or fails it under make test.
func Start(t testing.TB) *Bus { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Bus {
	t.Helper()
	daemon := realdeps.Tool(t, "dbus-daemon", "install the dbus package (make deps)")
	dir, err := os.MkdirTemp("", "bus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Other uids must reach the socket.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bus")
	cfg := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, sock), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--nofork", "--nopidfile", "--print-address=1", "--config-file="+cfg)
	if len(o.Users) > 0 {
		cmd.Env = append(os.Environ(), nssWrapper(t, dir, o.Users)...)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			addr <- strings.TrimSpace(sc.Text())
		}
		close(addr)
		for sc.Scan() { // drain so that the daemon never blocks on stdout
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok || a == "" {
			t.Fatalf("dbus-daemon printed no address: %s", stderr.String())
		}
		return &Bus{Address: a}
	case <-exited:
		t.Fatalf("dbus-daemon exited at once: %v: %s", waitErr, stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("dbus-daemon printed no address within a minute")
	}
	return nil
}

// nssWrapper returns the environment that makes dbus-daemon see users in
// passwd and group files in dir, besides the machine's own.
func nssWrapper(t testing.TB, dir string, uids []int) []string {
	t.Helper()
	libs, _ := filepath.Glob("/usr/lib/*/libnss_wrapper.so")
	if len(libs) == 0 {
		realdeps.Missing(t, "libnss_wrapper.so", "install the libnss-wrapper package (make deps)")
	}
	passwd, group := readFile(t, "/etc/passwd"), readFile(t, "/etc/group")
	for _, uid := range uids {
		passwd += fmt.Sprintf("tray%d:x:%d:%d:test desktop user:/nonexistent:/bin/false\n", uid, uid, uid)
		group += fmt.Sprintf("tray%d:x:%d:\n", uid, uid)
	}
	pw, gr := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if err := os.WriteFile(pw, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gr, []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"LD_PRELOAD=" + libs[0], "NSS_WRAPPER_PASSWD=" + pw, "NSS_WRAPPER_GROUP=" + gr}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}
