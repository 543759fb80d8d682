package ipc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/user"
	"strconv"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Who names the callers a route admits (DESIGN §4).
type Who int

// The caller classes of the permission table.
const (
	// Anyone admits every local user who can reach the socket.
	Anyone Who = iota + 1
	// RootOrOperator admits root and the operator, the uid that registered
	// the device.
	RootOrOperator
	// RootOrUnregistered admits root, and any console user (a person
	// logged in at this computer, see ServerOptions.IsConsoleUser) while
	// the device is not registered; that user then becomes the operator.
	RootOrUnregistered
)

// String returns the class as the DESIGN table words it.
func (w Who) String() string {
	switch w {
	case Anyone:
		return "any local user"
	case RootOrOperator:
		return "root or operator"
	case RootOrUnregistered:
		return "root, or any console user when unregistered"
	}
	return "who(" + strconv.Itoa(int(w)) + ")"
}

// Route is one row of the permission table: a method and path, who may call
// it, and the agentctl command that calls it (named in refusals).
type Route struct {
	Method  string
	Path    string
	Who     Who
	Command string

	serve func(*Server, http.ResponseWriter, *http.Request, Caller)
}

// routes is the permission table and the router in one: a handler that is not
// listed here is not reachable, so no route can be served without a rule.
var routes = []Route{
	{http.MethodGet, "/v1/status", Anyone, "agentctl status", (*Server).handleStatus},
	{http.MethodGet, "/v1/session", Anyone, "agentctl session", (*Server).handleSession},
	{http.MethodGet, "/v1/events", Anyone, "agentctl watch", (*Server).handleEvents},
	{http.MethodGet, "/v1/explain", Anyone, "agentctl why", (*Server).handleExplain},
	{http.MethodGet, "/v1/permissions", Anyone, "agentctl status", (*Server).handlePermissions},
	{http.MethodPost, "/v1/registration", RootOrUnregistered, "agentctl register", (*Server).handleRegister},
	{http.MethodDelete, "/v1/registration", RootOrOperator, "agentctl logout", (*Server).handleLeave},
	{http.MethodPost, "/v1/connect", RootOrOperator, "agentctl connect", (*Server).handleConnect},
	{http.MethodPost, "/v1/disconnect", RootOrOperator, "agentctl disconnect", (*Server).handleDisconnect},
	{http.MethodPost, "/v1/reauth", RootOrOperator, "agentctl reauth", (*Server).handleReauth},
	{http.MethodGet, "/v1/settings", Anyone, "agentctl settings get", (*Server).handleSettings},
	{http.MethodPatch, "/v1/settings", RootOrOperator, "agentctl settings set", (*Server).handleSetSettings},
}

// Routes returns a copy of the permission table, every route the server
// serves, so that tests and documentation can enumerate it.
func Routes() []Route {
	out := make([]Route, len(routes))
	copy(out, routes)
	return out
}

// ActionLimiter is a Backend that refuses some actions beyond the
// permission table, by the organization's settings (the MDM file's
// switch_locked): GET /v1/permissions asks it so that its answer matches
// what the route would do.
type ActionLimiter interface {
	// Refusal returns the error the route method path would refuse
	// caller with before doing anything, or nil.
	Refusal(caller Caller, method, path string) error
}

// permissionsFor returns every state-changing route's verdict for c: the
// table's rule, then the backend's own limits.
func (s *Server) permissionsFor(ctx context.Context, c Caller, credErr error) ipcproto.Permissions {
	op, registered := s.backend.Operator()
	p := ipcproto.Permissions{UID: c.UID, Root: c.IsRoot(), Operator: registered && c.UID == op}
	limiter, _ := s.backend.(ActionLimiter)
	for _, rt := range s.writes {
		v := ipcproto.Permission{Command: rt.Command, Method: rt.Method, Path: rt.Path, Allowed: true}
		if credErr != nil {
			e := unidentified(rt, credErr)
			v.Allowed, v.Code, v.Message, v.Hint = false, e.Code, e.Message, e.Hint
		} else if e := authorize(ctx, s.backend, s.opts.IsConsoleUser, rt, c); e != nil {
			v.Allowed, v.Code, v.Message, v.Hint = false, e.Code, e.Message, e.Hint
		} else if limiter != nil {
			if err := limiter.Refusal(c, rt.Method, rt.Path); err != nil {
				v.Allowed, v.Code, v.Message = false, ipcproto.CodeInternal, err.Error()
				var e *apierror.Error
				if errors.As(err, &e) {
					v.Code, v.Message, v.Hint = e.Code, e.Message, e.Hint
				}
			}
		}
		p.Actions = append(p.Actions, v)
	}
	return p
}

// stateChanging returns the routes that change state, in table order.
func stateChanging() []*Route {
	var out []*Route
	for i := range routes {
		if routes[i].Method != http.MethodGet {
			out = append(out, &routes[i])
		}
	}
	return out
}

// routeIndex maps each path to its routes, one per method.
type routeIndex map[string][]*Route

func newRouteIndex() routeIndex {
	idx := routeIndex{}
	for i := range routes {
		r := &routes[i]
		idx[r.Path] = append(idx[r.Path], r)
	}
	return idx
}

// lookup returns the route for method and path; when the path exists under
// other methods it returns them for the Allow header instead.
func (idx routeIndex) lookup(method, path string) (rt *Route, allowed []string) {
	for _, r := range idx[path] {
		if r.Method == method {
			return r, nil
		}
		allowed = append(allowed, r.Method)
	}
	return nil, allowed
}

// authorize applies rt's rule to caller and returns the refusal, or nil. The
// registration state is read here, once per request: a Backend must still
// refuse a second enrollment that races with the first (two users passing
// this check while unregistered), since only it knows an enrollment started.
// console tells console users from system accounts such as nobody.
func authorize(ctx context.Context, b Backend, console func(uid int) bool, rt *Route, c Caller) *apierror.Error {
	if rt.Who == Anyone || c.IsRoot() {
		return nil
	}
	op, registered := b.Operator()
	switch rt.Who {
	case RootOrOperator:
		if registered && c.UID == op {
			return nil
		}
		if !registered {
			return denied(
				fmt.Sprintf("this device is not registered, so only root may run `%s`", rt.Command),
				fmt.Sprintf("run `agentctl register` first, or run `sudo %s`", rt.Command))
		}
		return denied(
			fmt.Sprintf("only root or the user who registered this device may run `%s`", rt.Command),
			fmt.Sprintf("run `sudo %s`, or run it as %s, who registered this device", rt.Command, describeUID(op)))
	case RootOrUnregistered:
		if !registered {
			if console(c.UID) {
				return nil
			}
			// A service account or nobody would become the operator of
			// everybody's device.
			return denied(
				fmt.Sprintf("only root or a user logged in at this computer may register it, and %s is not logged in here", describeUID(c.UID)),
				fmt.Sprintf("run `sudo %s`, or run `%s` from your own login session", rt.Command, rt.Command))
		}
		if c.UID == op {
			return denied("this device is already registered, by you",
				fmt.Sprintf("run `agentctl logout` first, then `%s` again", rt.Command))
		}
		owner := describeUID(op)
		if st := b.Status(ctx); st.Registration != nil && st.Registration.User != "" {
			owner = st.Registration.User + ", " + owner
		}
		return denied(
			fmt.Sprintf("this device is registered to %s; only root may register it again", owner),
			fmt.Sprintf("ask %s to run `agentctl logout` (if your organization allows it), or run `sudo %s`", describeUID(op), rt.Command))
	}
	// A route with no known class admits nobody but root: failing closed
	// keeps a table typo from opening a route.
	return denied(fmt.Sprintf("only root may run `%s`", rt.Command), fmt.Sprintf("run `sudo %s`", rt.Command))
}

func denied(msg, hint string) *apierror.Error {
	return &apierror.Error{
		Code: ipcproto.CodePermissionDenied, Message: msg, Hint: hint,
	}
}

// describeUID returns "alice (uid 1000)", or "uid 1000" for a uid with no
// account name, so a person knows whom to ask.
func describeUID(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
