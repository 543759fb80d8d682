package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
)

// fetchSession asks the edge for the session view and records what it
// teaches: the limits, and the edge's clock (S1, REL4).
func (a *Agent) fetchSession(ctx context.Context, reg *session.Registration) (control.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.EdgeTimeout)
	defer cancel()
	es, err := a.client(reg).Session(ctx, reg.DeviceID)
	if err != nil {
		return control.Session{}, err
	}
	received := a.clk.Now()
	var reqs, others []session.Requirement
	for _, g := range es.Gateway {
		d, err := session.ParseDuration(g.Duration)
		if err != nil {
			a.log.Warn("a policy's session duration from the edge is unreadable", zap.String("policy", g.Name), zap.Error(err))
			continue
		}
		r := session.Requirement{PolicyID: g.PolicyID, Name: g.Name, Filter: g.Filter, Duration: d}
		if !g.Applies() {
			others = append(others, r)
			continue
		}
		reqs = append(reqs, r)
	}
	var access *session.Requirement
	if es.Access != nil {
		if d, err := session.ParseDuration(es.Access.Duration); err == nil {
			access = &session.Requirement{Name: "Access device session", Filter: "access", Duration: d}
		}
	}
	a.mu.Lock()
	if a.snap.reg != nil && a.snap.reg.DeviceID == reg.DeviceID {
		a.snap.reqs, a.snap.access, a.snap.otherReqs = reqs, access, others
		if !es.ServerTime.IsZero() {
			a.snap.edgeClock = session.NewEdgeClock(es.ServerTime, received)
		}
		a.updateLocked()
	}
	a.mu.Unlock()
	a.kick()
	return es, nil
}

// refreshSession is fetchSession for callers that only want the side
// effects.
func (a *Agent) refreshSession(ctx context.Context, reg *session.Registration) error {
	_, err := a.fetchSession(ctx, reg)
	return err
}

// Session returns the per-policy expiry map. It asks the edge, and when the
// edge does not answer, computes the map from the limits it last gave and
// the auth_time the agent knows.
func (a *Agent) Session(ctx context.Context) (ipcproto.Session, error) {
	a.mu.Lock()
	reg, err := a.registrationLocked()
	a.mu.Unlock()
	if err != nil {
		return ipcproto.Session{}, err
	}
	_, ferr := a.fetchSession(ctx, reg)
	a.mu.Lock()
	defer a.mu.Unlock()
	if ferr != nil && a.snap.reqs == nil {
		return ipcproto.Session{}, a.edgeError("read the session limits", ferr)
	}
	if a.snap.reg == nil {
		return ipcproto.Session{}, errorf(ipcproto.CodeNotRegistered, "this device is no longer registered", "run `agentctl register`")
	}
	now := a.clk.Now()
	edgeNow := a.snap.edgeClock.EdgeNow(now)
	applies, notApplies := true, false
	out := ipcproto.Session{AuthTime: a.snap.reg.AuthTime, ServerTime: edgeNow, Gateway: []ipcproto.PolicyExpiry{}}
	for _, e := range a.expiryMapLocked(now) {
		out.Gateway = append(out.Gateway, ipcproto.PolicyExpiry{
			PolicyID: e.PolicyID, Name: e.Name, Filter: e.Filter, Duration: e.DurationText, ExpiresAt: e.ExpiresAt, Expired: e.Expired,
			AppliesToUser: &applies, NoIdPSession: e.NoIdPSession,
		})
	}
	for _, e := range session.ExpiryMap(a.snap.otherReqs, a.snap.reg.AuthTime, a.snap.edgeClock, now) {
		out.Gateway = append(out.Gateway, ipcproto.PolicyExpiry{
			PolicyID: e.PolicyID, Name: e.Name, Filter: e.Filter, Duration: e.DurationText, ExpiresAt: e.ExpiresAt, Expired: e.Expired,
			AppliesToUser: &notApplies, NoIdPSession: e.NoIdPSession,
		})
	}
	if acc := a.snap.access; acc != nil {
		if at, ok := acc.ExpiresAt(a.snap.reg.AuthTime); ok {
			out.Access = &ipcproto.AccessExpiry{Duration: acc.Duration.String(), ExpiresAt: at}
		}
	}
	return out, nil
}

// Reauth publishes the refresh-identity URL for a re-authentication the
// user asked for: never deduplicated (S16), always validated (SEC4).
func (a *Agent) Reauth(ctx context.Context, req ipcproto.ReauthRequest) (ipcproto.AuthURL, error) {
	a.mu.Lock()
	reg, err := a.registrationLocked()
	var broker *session.ReauthBroker
	if err == nil {
		broker = a.snap.broker
	}
	a.mu.Unlock()
	if err != nil {
		return ipcproto.AuthURL{}, err
	}
	if reg.NonIdentity() {
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeConflict,
			fmt.Sprintf("this device enrolled with the service token %q: no one signs in on it, so there is no session to re-authenticate", reg.ServiceToken),
			"policies that check the session block it for good (no_idp_session); ask your administrator to exempt it, or to enroll it with a user")
	}
	if req.DeviceCode {
		return a.startDeviceReauth(ctx, reg)
	}
	p, err := broker.Manual(reg.Team.RefreshIdentityURL)
	if err != nil {
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeUnsafeURL,
			"the re-authentication URL is not on the team domain, so agentd will not publish it", "contact your administrator")
	}
	a.mu.Lock()
	a.publishToLocked(a.operatorAudienceLocked(), ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: p.URL, Reason: "reauth"})
	a.mu.Unlock()
	return ipcproto.AuthURL{AuthURL: p.URL, TeamDomain: reg.Team.Domain}, nil
}

// nextWarning returns the local time of the next expiry warning.
func (a *Agent) nextWarning() (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.snap.reg == nil || a.snap.conn == nil || len(a.snap.reqs) == 0 {
		return time.Time{}, false
	}
	return a.snap.warner.NextCheck(a.expiryMapLocked(a.clk.Now()))
}

// checkWarnings publishes the expiry warnings that are due, one per
// distinct deadline.
func (a *Agent) checkWarnings() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.snap.reg == nil || a.snap.conn == nil {
		return
	}
	for _, w := range a.snap.warner.Check(a.expiryMapLocked(a.clk.Now())) {
		a.log.Info("session expiring soon", zap.Strings("policies", w.PolicyNames), zap.Time("expires_at", w.ExpiresAt))
		a.publishLocked(ipcproto.EventExpiryWarning, ipcproto.ExpiryWarning{
			PolicyName: strings.Join(w.PolicyNames, ", "), ExpiresAt: w.ExpiresAt,
		})
	}
}

// clockJumped runs after the wall clock moved apart from the monotonic one
// (a manual change, NTP stepping, a resume from suspend): the edge clock
// offset is measured again and the expiry timers re-armed (REL4).
func (a *Agent) clockJumped(by time.Duration) {
	a.log.Info("the wall clock jumped; measuring the edge's clock again", zap.Duration("by", by))
	a.mu.Lock()
	reg := a.snap.reg
	a.mu.Unlock()
	if reg != nil {
		if err := a.refreshSession(a.ctx, reg); err != nil {
			// The old offset stays: a resume from suspend moves the edge's
			// clock as much as ours, a manual change does not, and only
			// the edge can tell which; the stream's reconnection asks it.
			a.log.Warn("the edge did not answer after a clock jump", zap.Error(err))
		}
	}
	a.checkWarnings()
}

// jumpDetector compares how far the wall clock and the monotonic clock
// moved between two checks.
type jumpDetector struct {
	wall      time.Time
	mono      time.Duration
	threshold time.Duration
}

func newJumpDetector(wall time.Time, mono, threshold time.Duration) *jumpDetector {
	return &jumpDetector{wall: wall.Round(0), mono: mono, threshold: threshold}
}

// check returns how much further the wall clock moved than the monotonic
// one since the last check, and whether that is a jump.
func (j *jumpDetector) check(wall time.Time, mono time.Duration) (time.Duration, bool) {
	wall = wall.Round(0) // strip Go's monotonic reading: compare wall time
	diff := wall.Sub(j.wall) - (mono - j.mono)
	j.wall, j.mono = wall, mono
	return diff, diff > j.threshold || diff < -j.threshold
}
