package ipc

import (
	"fmt"
	"net"
	"os"
)

// UntrustedDaemonError is a socket the client refused to talk to because
// whoever answers on it could be another user pretending to be agentd: a
// fake daemon would be handed the caller's commands and could show any URL
// to open. Nothing was sent to it.
type UntrustedDaemonError struct {
	// Socket is the socket's path.
	Socket string
	// UID is the uid of the process that answered, or of the directory's
	// owner; -1 when not known.
	UID int
	// Reason says what is wrong, for a person.
	Reason string
}

// Error returns what was refused, why, and what to do.
func (e *UntrustedDaemonError) Error() string {
	return fmt.Sprintf("refusing to talk to %s: %s; this may be another user's fake agentd, so nothing was sent to it. "+
		"Start agentd yourself with a socket only you can write (set XDG_RUNTIME_DIR, or pass --socket to agentd and agentctl), "+
		"or ask an administrator to remove it", e.Socket, e.Reason)
}

// verifyDaemon checks, before anything is sent, that the process answering
// on conn is root or this client's own user: the only two that may run the
// agentd this client means to reach (a system service, or the user's own
// daemon). The kernel recorded the listener's credentials when it called
// listen, so the answer cannot be forged by the peer.
func verifyDaemon(conn net.Conn, socket string) error {
	cred, err := daemonCred(conn)
	if err != nil {
		return &UntrustedDaemonError{Socket: socket, UID: -1, Reason: fmt.Sprintf("cannot tell who answers on it (%v)", err)}
	}
	if me := os.Geteuid(); cred.UID != 0 && cred.UID != me {
		return &UntrustedDaemonError{Socket: socket, UID: cred.UID, Reason: fmt.Sprintf(
			"it is answered by %s, not by root or by you (uid %d)", describeUID(cred.UID), me)}
	}
	return nil
}
