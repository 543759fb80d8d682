// Package paths holds where agentd keeps its socket and state, in system
// mode (a root service) and user mode (a user's own daemon, as make run
// starts it), so that agentd and agentctl agree without configuration.
package paths

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Layout is where a system-mode agentd (the service) keeps its socket and
// its state on one operating system.
type Layout struct {
	// Socket is the IPC endpoint: a unix socket's path, or on Windows a
	// named pipe's name.
	Socket   string
	StateDir string
}

// WindowsPipe is agentd's named pipe on Windows. Only administrators and
// SYSTEM may create a pipe under ProtectedPrefix\Administrators, so a
// client that reaches it reaches the service, never a user's fake.
const WindowsPipe = `\\.\pipe\ProtectedPrefix\Administrators\ztagent\agentd`

// SystemLayout returns the system-mode layout of goos (DESIGN §3):
// /run/ztagent and /var/lib/ztagent on Linux; /var/run/ztagent and
// /Library/Application Support/ztagent on macOS; the named pipe and
// %ProgramData%\ztagent on Windows. getenv reads the environment.
func SystemLayout(goos string, getenv func(string) string) Layout {
	switch goos {
	case "windows":
		data := getenv("ProgramData")
		if data == "" {
			data = `C:\ProgramData`
		}
		return Layout{Socket: WindowsPipe, StateDir: strings.TrimRight(data, `\`) + `\ztagent`}
	case "darwin":
		return Layout{Socket: "/var/run/ztagent/agentd.sock", StateDir: "/Library/Application Support/ztagent"}
	}
	return Layout{Socket: "/run/ztagent/agentd.sock", StateDir: "/var/lib/ztagent"}
}

// System mode defaults of this system (DESIGN §3).
var (
	SystemSocket   = SystemLayout(runtime.GOOS, os.Getenv).Socket
	SystemStateDir = SystemLayout(runtime.GOOS, os.Getenv).StateDir
)

// UserSocket returns the user-mode socket: $XDG_RUNTIME_DIR/ztagent/agentd.sock,
// or, without XDG_RUNTIME_DIR, /tmp/ztagent-<uid>/agentd.sock. Any user can
// create a name in /tmp, so another user may have made that directory
// first, to put a fake agentd in it: pkg/ipc refuses a socket directory
// that is a symlink, writable by group or others, or owned by anyone but
// root and the caller, both when agentd listens and when agentctl
// connects, and agentctl also refuses a daemon that is neither root nor
// its own user.
func UserSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ztagent", "agentd.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("ztagent-%d", os.Getuid()), "agentd.sock")
}

// UserStateDir returns the user-mode state directory:
// $XDG_STATE_HOME/ztagent, else ~/.local/state/ztagent, else ./.run/agentd.
func UserStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ztagent")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "ztagent")
	}
	return filepath.Join(".run", "agentd")
}

// DefaultSocket returns the socket a client should use when none is given:
// the ZTAGENT_SOCKET environment variable, else the system socket when it
// exists, else the user-mode one.
func DefaultSocket() string {
	if s := os.Getenv("ZTAGENT_SOCKET"); s != "" {
		return s
	}
	if systemOnly() {
		return SystemSocket
	}
	if _, err := os.Stat(SystemSocket); err == nil {
		return SystemSocket
	}
	return UserSocket()
}

// DaemonSocket returns the socket agentd listens on by default: the
// system one as root, the user-mode one otherwise.
func DaemonSocket() string {
	if systemOnly() || os.Geteuid() == 0 {
		return SystemSocket
	}
	return UserSocket()
}

// DaemonStateDir returns agentd's default state directory, by the same
// rule as DaemonSocket.
func DaemonStateDir() string {
	if systemOnly() || os.Geteuid() == 0 {
		return SystemStateDir
	}
	return UserStateDir()
}

// systemOnly reports whether agentd runs only as the system service here:
// on Windows there is no user-mode agentd (nor a uid to name one by).
func systemOnly() bool { return runtime.GOOS == "windows" }
