package ipc

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/Microsoft/go-winio"

	"github.com/ztagent/ztagent/platform/peercred"
)

// listenSocket listens on agentd's named pipe with PipeSDDL. The name
// must be under ProtectedPrefix\Administrators (internal/paths'
// WindowsPipe), where only administrators and SYSTEM can create a pipe: a
// user cannot put a fake agentd there, which is what the socket
// directory's checks are for on unix.
func listenSocket(path string) (net.Listener, os.FileInfo, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("ipc: no pipe name")
	}
	ln, err := winio.ListenPipe(path, &winio.PipeConfig{
		SecurityDescriptor: PipeSDDL,
		InputBufferSize:    64 << 10,
		OutputBufferSize:   64 << 10,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: listen on %s: %w", path, err)
	}
	return ln, nil, nil
}

// removeSocket has nothing to remove: a pipe goes with its last handle.
func removeSocket(string, os.FileInfo) error { return nil }

// checkDaemonSocketDir has no directory to check: the pipe's protected
// prefix and daemonCred's check of the server stand for it.
func checkDaemonSocketDir(string) error { return nil }

// dialSocket connects to agentd's named pipe.
func dialSocket(ctx context.Context, path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return winio.DialPipeContext(ctx, path)
}

// daemonCred reads who serves the pipe the client dialled.
func daemonCred(c net.Conn) (peercred.Cred, error) { return peercred.PipeServer(c) }
