// Package paths holds where agentd keeps its socket and state, in system
// mode (a root service) and user mode (a user's own daemon, as make run
// starts it), so that agentd and agentctl agree without configuration.
package paths

import (
	"fmt"
	"os"
	"path/filepath"
)

// System mode defaults (DESIGN §3).
const (
	SystemSocket   = "/run/ztagent/agentd.sock"
	SystemStateDir = "/var/lib/ztagent"
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
	if _, err := os.Stat(SystemSocket); err == nil {
		return SystemSocket
	}
	return UserSocket()
}

// DaemonSocket returns the socket agentd listens on by default: the
// system one as root, the user-mode one otherwise.
func DaemonSocket() string {
	if os.Geteuid() == 0 {
		return SystemSocket
	}
	return UserSocket()
}

// DaemonStateDir returns agentd's default state directory, by the same
// rule as DaemonSocket.
func DaemonStateDir() string {
	if os.Geteuid() == 0 {
		return SystemStateDir
	}
	return UserStateDir()
}
