// Package ipc is agentd's local API (DESIGN §4): HTTP/1.1 over a unix
// socket, callers identified by their kernel peer credentials and held to
// the permission table, JSON bodies from pkg/ipc/ipcproto, an NDJSON event
// stream, and the one typed client agentctl, tray apps and tests use.
package ipc

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Caller is who sent a request, from the socket's peer credentials.
type Caller struct {
	UID int
	GID int
	PID int
	// SID is a Windows caller's user SID; UID then stands for it
	// (peercred.WindowsCred: 0 for SYSTEM and elevated administrators).
	SID string
}

// IsRoot reports whether the caller is the superuser.
func (c Caller) IsRoot() bool { return c.UID == 0 }

// Backend is what the IPC server serves: the agent (pkg/agent). Errors that
// are *ipcproto-coded (see Error) keep their code and status; others become
// 500 internal with a generic message.
type Backend interface {
	// Status returns the current status; it must answer at once, whatever
	// the keyring or the edge are doing (REL2, REL3).
	Status(ctx context.Context) ipcproto.Status
	// Session returns the per-policy expiry map.
	Session(ctx context.Context) (ipcproto.Session, error)
	// Explain returns the edge's decision trace for a flow to dst.
	Explain(ctx context.Context, dst, proto string) (json.RawMessage, error)
	// Register starts an enrollment for caller, who becomes the operator
	// when it completes, and returns the URL to open.
	Register(ctx context.Context, caller Caller, req ipcproto.RegisterRequest) (ipcproto.AuthURL, error)
	// Leave leaves the organization, if the edge allows it.
	Leave(ctx context.Context) error
	// Connect and Disconnect start and stop the tunnel.
	Connect(ctx context.Context) error
	// Disconnect is refused for all but root when the MDM file locks the
	// switch (switch_locked).
	Disconnect(ctx context.Context, caller Caller) error
	// Reauth publishes the refresh-identity URL (a manual re-authentication
	// is never deduplicated, S16) and returns it.
	Reauth(ctx context.Context, req ipcproto.ReauthRequest) (ipcproto.AuthURL, error)
	// Settings returns the settings; SetSettings changes the non-empty ones.
	Settings(ctx context.Context) ipcproto.Settings
	SetSettings(ctx context.Context, s ipcproto.Settings) error
	// Subscribe returns the current status and a channel of the later
	// events caller may see (an enrollment's URL only for the user who
	// started it, prompts only for the operator; root sees all), closed when the subscription is dropped (too slow) or cancel is
	// called. The channel must never block the agent: a subscriber that
	// falls behind is dropped.
	Subscribe(caller Caller) (snapshot ipcproto.Status, events <-chan ipcproto.Event, cancel func())
	// Operator returns the uid that registered the device, and whether the
	// device is registered.
	Operator() (uid int, registered bool)
}

// StatusOf returns the HTTP status the server answers a refusal with code
// with, when the refusal does not carry its own (a relayed edge refusal
// does): one table, so that the same refusal is answered alike whichever
// part of agentd makes it. Unknown codes are 500s.
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

var statusOf = map[string]int{
	ipcproto.CodeBadRequest:         http.StatusBadRequest,
	ipcproto.CodePermissionDenied:   http.StatusForbidden,
	ipcproto.CodeNotAllowedToLeave:  http.StatusForbidden,
	ipcproto.CodeForbiddenOrigin:    http.StatusForbidden,
	ipcproto.CodeNotFound:           http.StatusNotFound,
	control.CodeUnknownTeam:         http.StatusNotFound,
	ipcproto.CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
	ipcproto.CodeConflict:           http.StatusConflict,
	ipcproto.CodeAlreadyRegistered:  http.StatusConflict,
	ipcproto.CodeNotRegistered:      http.StatusConflict,
	ipcproto.CodeOtherUser:          http.StatusConflict,
	ipcproto.CodeBodyTooLarge:       http.StatusRequestEntityTooLarge,
	ipcproto.CodeInternal:           http.StatusInternalServerError,
	ipcproto.CodeStateNotSaved:      http.StatusInternalServerError,
	ipcproto.CodeUnsafeURL:          http.StatusBadGateway,
	ipcproto.CodeTunnelFailed:       http.StatusBadGateway,
	ipcproto.CodeKeyringUnavailable: http.StatusServiceUnavailable,
	ipcproto.CodeEdgeUnreachable:    http.StatusServiceUnavailable,
	ipcproto.CodeTooManyClients:     http.StatusServiceUnavailable,
	ipcproto.CodeShuttingDown:       http.StatusServiceUnavailable,
}
