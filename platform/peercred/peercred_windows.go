package peercred

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/windows"
)

// ErrNotPipe is returned for a connection that is not a named pipe.
var ErrNotPipe = errors.New("peer credentials need a named pipe connection")

// handleOf returns the pipe handle under a go-winio connection.
func handleOf(c net.Conn) (windows.Handle, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return 0, ErrNotPipe
	}
	return windows.Handle(f.Fd()), nil
}

// getConn identifies the client of a named pipe the server accepted: the
// client's process id from the pipe (GetNamedPipeClientProcessId), then
// that process's token, its user SID and whether its Administrators group
// is enabled. The process is opened by id while it is connected, so it
// cannot have exited and had its id reused before the lookup.
func getConn(c net.Conn) (Cred, error) {
	h, err := handleOf(c)
	if err != nil {
		return Cred{}, err
	}
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(h, &pid); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: GetNamedPipeClientProcessId: %w", err)
	}
	return processCred(pid)
}

// PipeServer identifies the process serving a named pipe the client
// dialled, so that a client can check agentd is SYSTEM or an
// administrator before it sends anything.
func PipeServer(c net.Conn) (Cred, error) {
	h, err := handleOf(c)
	if err != nil {
		return Cred{}, err
	}
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(h, &pid); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: GetNamedPipeServerProcessId: %w", err)
	}
	return processCred(pid)
}

// processCred reads process pid's token.
func processCred(pid uint32) (Cred, error) {
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: open process %d: %w", pid, err)
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: open the token of process %d: %w", pid, err)
	}
	defer tok.Close()
	user, err := tok.GetTokenUser()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: token user: %w", err)
	}
	groups, err := tok.GetTokenGroups()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: token groups: %w", err)
	}
	admin := false
	for _, g := range groups.AllGroups() {
		if g.Attributes&windows.SE_GROUP_ENABLED != 0 && g.Sid.String() == SIDAdministrators {
			admin = true
		}
	}
	return WindowsCred(user.User.Sid.String(), int(pid), admin), nil
}
