//go:build unix

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ztagent/ztagent/platform/peercred"
)

// staleProbeTimeout bounds the connect that tells a live daemon's socket from
// a stale one.
const staleProbeTimeout = time.Second

// listenSocket checks the socket's directory (SEC1), removes a stale socket
// and listens; it returns the listener and the socket file's identity, so
// that Close removes only the file it made.
func listenSocket(path string) (net.Listener, os.FileInfo, error) {
	if path == "" {
		return nil, nil, errors.New("ipc: no socket path")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: socket path: %w", err)
	}
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, nil, err
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: listen on %s: %w", path, err)
	}
	// Close removes the file itself, and only if it is still ours.
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, os.FileInfo, error) {
		_ = ln.Close()
		_ = os.Remove(path)
		return nil, nil, err
	}
	// 0666: access is decided per request from peer credentials (see
	// ServerOptions); the directory keeps others from replacing the socket.
	if err := os.Chmod(path, 0o666); err != nil {
		return fail(fmt.Errorf("ipc: chmod %s: %w", path, err))
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(fmt.Errorf("ipc: %w", err))
	}
	return ln, fi, nil
}

// checkSocketDir refuses a directory where someone other than root or the
// daemon's user could replace the socket with their own. Only the last
// component is checked: the path above it (such as /var/run → /run) is the
// system's to arrange.
func checkSocketDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("ipc: create socket directory: %w", err)
		}
		// Mkdir applies the umask; set the mode the checks below expect.
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("ipc: chmod socket directory: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("ipc: socket directory: %w", err)
	}
	if p := socketDirProblem(dir, fi); p != "" {
		return fmt.Errorf("ipc: refusing to listen: %s; %s", p, socketDirFix)
	}
	return nil
}

// socketDirFix is what to do about a socket directory someone else could
// have planted, such as /tmp/ztagent-<uid> made by another user before
// agentd first ran.
const socketDirFix = "use a directory only you (or root) can write: set XDG_RUNTIME_DIR, or pass --socket"

// socketDirProblem returns why dir, described by its Lstat fi, could let
// someone other than root or this process's user put their own socket
// there; "" when it cannot. The daemon checks it before it listens and the
// client before it connects (SEC1), so that neither trusts a directory,
// such as the /tmp fallback of internal/paths, that another user made.
func socketDirProblem(dir string, fi os.FileInfo) string {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Sprintf("socket directory %s is a symlink", dir)
	}
	if !fi.IsDir() {
		return fmt.Sprintf("%s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Sprintf("socket directory %s is writable by group or others (mode %#o)", dir, perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if owner := int(st.Uid); owner != 0 && owner != os.Geteuid() {
			return fmt.Sprintf("socket directory %s is owned by %s, not by root or by you (uid %d)", dir, describeUID(owner), os.Geteuid())
		}
	}
	return ""
}

// checkDaemonSocketDir is the client's side of socketDirProblem. A missing
// directory is left to the connect, which then says agentd is not running.
func checkDaemonSocketDir(socket string) error {
	abs, err := filepath.Abs(socket)
	if err != nil {
		return nil
	}
	dir := filepath.Dir(abs)
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil
	}
	if p := socketDirProblem(dir, fi); p != "" {
		uid := -1
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid = int(st.Uid)
		}
		return &UntrustedDaemonError{Socket: socket, UID: uid, Reason: p}
	}
	return nil
}

// removeStaleSocket removes a socket left by a daemon that died, and refuses
// to touch anything else: a live daemon's socket or a file that is not a
// socket.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("ipc: refusing to listen: %s exists and is not a socket; move it away", path)
	}
	c, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("ipc: another agentd is already listening on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("ipc: cannot tell whether %s is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ipc: remove stale socket: %w", err)
	}
	return nil
}

// removeSocket removes the socket file if it is still the one fi describes;
// a newer daemon's socket at the same path is left alone.
func removeSocket(path string, fi os.FileInfo) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	cur, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc: %w", err)
	}
	if fi == nil || !os.SameFile(cur, fi) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ipc: remove socket: %w", err)
	}
	return nil
}

// dialSocket connects to agentd's unix socket.
func dialSocket(ctx context.Context, path string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	return d.DialContext(ctx, "unix", path)
}

// daemonCred reads who answers on a socket the client dialled: the kernel
// recorded the listener's credentials when it called listen.
func daemonCred(c net.Conn) (peercred.Cred, error) { return peercred.Get(c) }
