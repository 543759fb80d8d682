package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
)

// snapshot is everything Status reports, kept under Agent.mu. The state is
// derived from these facts by updateLocked rather than set by hand, so that
// two things going wrong at once (a keyring failure during an edge outage,
// say) resolve to the same state whichever clears first.
type snapshot struct {
	state   ipcproto.State
	message string

	// starting is set until the first keyring read has answered.
	starting bool
	reg      *session.Registration
	// keyringErr is the last keyring failure, "" once a call succeeded.
	keyringErr string
	// revoked says why the registration ended at the edge (S14), until a
	// new enrollment starts.
	revoked string
	// lastFailure is the last enrollment or connection failure, shown
	// while unregistered or disconnected.
	lastFailure string

	enroll *enrollment
	conn   *connection
	// streamUp reports whether the control stream is open; streamErr says
	// why not and when the next attempt is due.
	streamUp  bool
	streamErr string

	broker *session.ReauthBroker
	warner *session.ExpiryWarner
	// expiredPolicy names the policy of the latest session_expired.
	expiredPolicy string

	edgeClock session.EdgeClock
	// reqs are the edge's session limits (policies with check_session),
	// from GET /v1/registrations/{id}/session; access is the Access
	// device session's duration (S9), zero when none.
	reqs   []session.Requirement
	access *session.Requirement
	// otherReqs are the session limits of policies that cannot match
	// this user: shown in the session map, never warned or expired on.
	otherReqs []session.Requirement
	// expiredNames are the user's policies expired by the edge's clock,
	// and announced the policy@auth_time keys front-ends have heard of.
	expiredNames []string
	announced    map[string]bool

	// mdm is the MDM file's settings and the unattended enrollment.
	mdm unattended
	// deviceReauth is the re-authentication with a device code in
	// progress, nil when none is.
	deviceReauth *deviceReauth

	persisted persisted
}

// deriveLocked returns the state the facts imply and what it means for
// the user.
func (a *Agent) deriveLocked() (ipcproto.State, string) {
	s := &a.snap
	switch {
	case s.keyringErr != "":
		return ipcproto.StateKeyringUnavailable, s.keyringErr
	case s.starting:
		return ipcproto.StateConnecting, "reading the registration from the keyring"
	case s.reg == nil && s.enroll != nil:
		// Not the URL: status is readable by every local user, and the
		// URL's state and challenge are the registering user's.
		return ipcproto.StateRegistering, "waiting for the sign-in in the browser to complete (the URL was given to whoever ran `agentctl register`)"
	case s.reg == nil && s.revoked != "":
		return ipcproto.StateRevoked, s.revoked
	case s.reg == nil && s.mdm.running:
		return ipcproto.StateRegistering, fmt.Sprintf("enrolling unattended with the service token of %s", s.mdm.settings.File)
	case s.reg == nil:
		msg := "this device is not registered; run `agentctl register`"
		if s.lastFailure != "" {
			msg = s.lastFailure
		} else if s.mdm.failure != "" {
			msg = s.mdm.failure
		}
		return ipcproto.StateUnregistered, msg
	case s.conn == nil && (s.persisted.Disconnected || s.lastFailure != ""):
		msg := "the tunnel is off; run `agentctl connect`"
		if s.lastFailure != "" {
			msg = s.lastFailure
		}
		return ipcproto.StateDisconnected, msg
	case s.conn == nil:
		// The user wants the tunnel and it has not failed: it is coming
		// up (right after a start, before connect returns).
		return ipcproto.StateConnecting, "bringing the tunnel up"
	case s.broker.Pending():
		msg := "your client session expired; sign in again in the browser to restore access"
		if s.expiredPolicy != "" {
			msg = fmt.Sprintf("your client session expired (policy %q); sign in again in the browser to restore access", s.expiredPolicy)
		}
		return ipcproto.StateReauthRequired, msg
	case len(s.expiredNames) > 0:
		return ipcproto.StateReauthRequired, expiredMessage(s.expiredNames)
	case s.streamUp:
		return ipcproto.StateConnected, ""
	default:
		msg := "connecting to the edge"
		if s.streamErr != "" {
			msg = s.streamErr
		}
		return ipcproto.StateConnecting, msg
	}
}

// updateLocked recomputes the state and publishes state_changed when it
// moved.
func (a *Agent) updateLocked() {
	a.noteExpiryLocked(a.clk.Now())
	st, msg := a.deriveLocked()
	from := a.snap.state
	a.snap.state, a.snap.message = st, msg
	if st != from {
		a.publishLocked(ipcproto.EventStateChanged, ipcproto.StateChanged{From: from, To: st, Message: msg})
	}
}

// statusLocked returns the status from the snapshot, without the tunnel's
// live counters.
func (a *Agent) statusLocked() ipcproto.Status {
	s := &a.snap
	st := ipcproto.Status{State: s.state, Message: s.message}
	switch {
	case s.reg != nil:
		st.TeamDomain = s.reg.Team.Domain
	case s.enroll != nil:
		st.TeamDomain = s.enroll.team.Domain
	}
	if r := s.reg; r != nil {
		st.Registration = &ipcproto.Registration{
			DeviceID: r.DeviceID, User: r.User.Email, Team: r.Team.Name, IdP: r.IdP.Type, RegisteredAt: r.RegisteredAt,
			EnrolledVia: enrolledVia(r.EnrolledVia), ServiceToken: r.ServiceToken,
		}
		now := a.clk.Now()
		st.Session = &ipcproto.SessionClock{AuthTime: r.AuthTime, ServerTime: s.edgeClock.EdgeNow(now), NextExpiry: a.nextExpiryLocked(now)}
		if s.state == ipcproto.StateReauthRequired {
			st.ReauthURL = r.Team.RefreshIdentityURL
		}
	}
	if c := s.conn; c != nil {
		st.Tunnel = &ipcproto.Tunnel{
			Mode: string(c.mode), ProxyAddr: c.tun.ProxyAddr(), Interface: c.tun.InterfaceName(),
			Endpoint: c.endpoint, Addresses: append([]string(nil), c.addresses...), Up: true, Since: c.since,
		}
	}
	return st
}

// Status returns the current status at once, from the snapshot: it never
// waits for the keyring or the edge (REL2, REL3).
func (a *Agent) Status(context.Context) ipcproto.Status {
	a.mu.Lock()
	st := a.statusLocked()
	var c *connection
	if a.snap.conn != nil {
		c = a.snap.conn
	}
	a.mu.Unlock()
	if c != nil && st.Tunnel != nil {
		// A local call into the WireGuard device, not I/O to the edge.
		if stats, err := c.tun.Stats(); err == nil {
			st.Tunnel.LastHandshake = stats.LastHandshake
			st.Tunnel.RxBytes, st.Tunnel.TxBytes = stats.RxBytes, stats.TxBytes
		}
	}
	return st
}

// expiryMapLocked returns the per-policy expiry map for the current
// auth_time, on the edge's deadlines converted to local time.
func (a *Agent) expiryMapLocked(now time.Time) []session.Expiry {
	if a.snap.reg == nil {
		return nil
	}
	return session.ExpiryMap(a.snap.reqs, a.snap.reg.AuthTime, a.snap.edgeClock, now)
}

// describeOwner returns how a person is named in messages: "Name <email>"
// or whichever part is known.
func describeOwner(name, email string) string {
	name, email = strings.TrimSpace(name), strings.TrimSpace(email)
	switch {
	case name != "" && email != "" && name != email:
		return fmt.Sprintf("%s <%s>", name, email)
	case email != "":
		return email
	case name != "":
		return name
	}
	return "another user"
}

// enrolledVia names how a registration enrolled; records older than the
// field came from the browser flow, the only one there was.
func enrolledVia(v string) string {
	if v == "" {
		return session.EnrolledViaBrowser
	}
	return v
}
