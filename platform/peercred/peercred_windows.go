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
	return pipeEnd(c, "GetNamedPipeClientProcessId", windows.GetNamedPipeClientProcessId)
}

// PipeServer identifies the process serving a named pipe the client
// dialled, so that a client can check agentd is SYSTEM or an
// administrator before it sends anything.
func PipeServer(c net.Conn) (Cred, error) {
	return pipeEnd(c, "GetNamedPipeServerProcessId", windows.GetNamedPipeServerProcessId)
}

// pipeEnd identifies the process at one end of pipe c: pid, named call,
// reads its id from the pipe's handle.
func pipeEnd(c net.Conn, call string, pid func(windows.Handle, *uint32) error) (Cred, error) {
	h, err := handleOf(c)
	if err != nil {
		return Cred{}, err
	}
	var id uint32
	if err := pid(h, &id); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %s: %w", call, err)
	}
	return processCred(id)
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
