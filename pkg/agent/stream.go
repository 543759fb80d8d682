package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
)

// follow owns the control stream of connection c until ctx ends or the
// edge says the registration ended, which it hands to revoke in a
// goroutine of its own (revoke stops this connection, so it cannot run on
// the connection's goroutine).
func (a *Agent) follow(ctx context.Context, c *connection, reg *session.Registration, after int64) {
	defer close(c.done)
	_, err := control.Follow(ctx, control.FollowOptions{
		Client:      a.client(reg),
		DeviceID:    reg.DeviceID,
		After:       after,
		OnEvent:     func(ev control.Event) error { return a.handleEvent(ctx, reg.DeviceID, ev) },
		OnState:     func(st control.FollowState) { a.streamState(ctx, reg, st) },
		Clock:       a.clk,
		MinBackoff:  a.opts.StreamMinBackoff,
		MaxBackoff:  a.opts.StreamMaxBackoff,
		IdleTimeout: a.opts.StreamIdleTimeout,
	})
	if control.IsRevocation(err) {
		_ = a.spawn(func() { a.revoke(reg.DeviceID, err) })
	}
}

// streamState records the stream's connection. On each (re)connection the
// session limits and the edge's clock are fetched again: they may have
// changed while the agent could not hear about it.
func (a *Agent) streamState(ctx context.Context, reg *session.Registration, st control.FollowState) {
	a.mu.Lock()
	a.snap.streamUp = st.Connected
	a.snap.streamErr = ""
	if !st.Connected && st.Err != nil {
		a.snap.streamErr = fmt.Sprintf("the edge's control stream is down (%v); retrying in %v", st.Err, st.Retry.Round(100*time.Millisecond))
	}
	a.updateLocked()
	a.mu.Unlock()
	if st.Connected {
		a.log.Info("control stream connected", zap.String("device", reg.DeviceID))
		if err := a.refreshSession(ctx, reg); err != nil {
			a.log.Warn("fetching the session limits", zap.Error(err))
		}
	} else {
		a.log.Warn("control stream down", zap.Error(st.Err), zap.Duration("retry", st.Retry))
	}
}

// handleEvent applies one event of the device's stream. An error makes
// Follow deliver the event again later, so the position is saved only once
// the event has been applied.
func (a *Agent) handleEvent(ctx context.Context, deviceID string, ev control.Event) error {
	var err error
	switch ev.Type {
	case control.EventSessionExpired:
		err = a.sessionExpired(deviceID, ev)
		// Measure the edge's clock again: an expiry the agent did not
		// foresee means the edge's time moved unlike ours (a simulated
		// clock advance, a skewed clock), and status shows the age from it.
		a.mu.Lock()
		reg := a.snap.reg
		a.mu.Unlock()
		if err == nil && reg != nil && reg.DeviceID == deviceID {
			if ferr := a.refreshSession(ctx, reg); ferr != nil {
				a.log.Debug("re-measuring the edge clock after an expiry", zap.Error(ferr))
			}
		}
	case control.EventSessionRefreshed:
		err = a.sessionRefreshed(deviceID, ev)
	case control.EventPolicyChanged:
		a.mu.Lock()
		reg := a.snap.reg
		a.mu.Unlock()
		if reg != nil && reg.DeviceID == deviceID {
			if err := a.refreshSession(ctx, reg); err != nil {
				a.log.Warn("fetching the session limits after a policy change", zap.Error(err))
			}
		}
	case control.EventClockChanged:
		a.clockChanged(ctx, deviceID, ev)
	case control.EventDeviceRevoked:
		// Follow returns a revocation right after this event.
	default:
		a.log.Debug("ignoring an unknown control event", zap.String("type", ev.Type))
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.snap.persisted.DeviceID == deviceID {
		a.snap.persisted.LastSeq = ev.Seq
	}
	a.mu.Unlock()
	a.saveSoon()
	return nil
}

// sessionExpired handles the edge's word that a policy blocked a flow
// (S16): reauth_required, the event for front-ends, and a browse_to_url
// when the broker says this expiry has not been prompted for (recently).
func (a *Agent) sessionExpired(deviceID string, ev control.Event) error {
	var p control.SessionExpired
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		a.log.Warn("a session_expired event without a readable payload", zap.Error(err))
	}
	a.mu.Lock()
	reg, broker := a.snap.reg, a.snap.broker
	a.mu.Unlock()
	if reg == nil || reg.DeviceID != deviceID {
		return nil
	}
	if !ev.Time.IsZero() && ev.Time.Before(reg.AuthTime) {
		// About a session the user has renewed since (a replayed event).
		return nil
	}
	prompt, ok, err := broker.SessionExpired(session.ExpirySignal{
		AuthTime: reg.AuthTime, PolicyID: p.PolicyID, PolicyName: p.PolicyName, Filter: p.Filter,
		URL: reg.Team.RefreshIdentityURL,
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.snap.reg != reg {
		return nil
	}
	a.snap.expiredPolicy = p.PolicyName
	// Every signal is an event (a flow was blocked again); the agent's
	// own timer does not announce this expiry a second time.
	if a.snap.announced == nil {
		a.snap.announced = map[string]bool{}
	}
	a.snap.announced[expiryKey(p.PolicyID, reg.AuthTime)] = true
	a.publishLocked(ipcproto.EventSessionExpired, ipcproto.SessionExpired{PolicyID: p.PolicyID, PolicyName: p.PolicyName, Filter: p.Filter})
	if err != nil {
		// An unsafe URL is never published (SEC4); say so instead.
		a.log.Error("the refresh-identity URL failed validation", zap.Error(err))
		a.publishLocked(ipcproto.EventError, ipcproto.ErrorEvent{Code: "unsafe_url",
			Message: "the edge's re-authentication URL is not on the team domain, so agentd will not publish it; contact your administrator"})
	}
	a.updateLocked()
	if ok {
		a.log.Info("session expired; prompting", zap.String("policy", p.PolicyName), zap.String("reason", prompt.Reason))
		a.publishToLocked(a.operatorAudienceLocked(), ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: prompt.URL, Reason: ipcproto.EventSessionExpired})
	}
	return nil
}

// sessionRefreshed records a new IdP authentication (S2, S12): the new
// auth_time goes to the keyring first (an error retries the event), then
// the state returns to connected and the warnings start over.
func (a *Agent) sessionRefreshed(deviceID string, ev control.Event) error {
	var p control.SessionRefreshed
	if err := json.Unmarshal(ev.Payload, &p); err != nil || p.AuthTime.IsZero() {
		a.log.Warn("a session_refreshed event without an auth_time", zap.Error(err))
		return nil
	}
	a.mu.Lock()
	reg, ec := a.snap.reg, a.snap.edgeClock
	a.mu.Unlock()
	if reg == nil || reg.DeviceID != deviceID {
		return nil
	}
	// The event's time is when the edge logged in the user, not now: keep
	// the measured clock offset rather than derive one from a late event.
	// The estimate can trail the edge by the measurement's error; the
	// edge's clock is at least at the authentication it reports.
	now := a.clk.Now()
	edgeNow := ec.EdgeNow(now)
	if edgeNow.Before(p.AuthTime) {
		edgeNow = p.AuthTime
	}
	ctx, cancel := a.keyringCtx()
	stored, err := a.store.Refresh(ctx, p.AuthTime, edgeNow, now, p.Groups)
	cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if isKeyringUnavailable(err) {
			a.keyringFailedLocked("record the new sign-in", err)
		}
		return fmt.Errorf("store the new auth_time: %w", err)
	}
	a.keyringRecoveredLocked()
	if a.snap.reg != reg || stored.DeviceID != reg.DeviceID {
		return nil
	}
	// Store.Refresh read the registration back from the keyring, so its
	// secrets are the stored ones; adopt it whole.
	a.snap.reg = stored
	a.snap.broker.SessionRefreshed(stored.AuthTime)
	a.snap.expiredPolicy = ""
	a.publishLocked(ipcproto.EventSessionRefreshed, ipcproto.SessionRefreshed{AuthTime: stored.AuthTime, Groups: stored.User.Groups})
	a.updateLocked()
	a.log.Info("session refreshed", zap.Time("auth_time", stored.AuthTime))
	a.kick()
	return nil
}

// revoke ends the registration after the edge said it ended (S14): the
// tunnel stops, the registration leaves the keyring, the state is revoked.
func (a *Agent) revoke(deviceID string, cause error) {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	reg := a.snap.reg
	a.mu.Unlock()
	if reg == nil || reg.DeviceID != deviceID || a.ctx.Err() != nil {
		return
	}
	a.disconnect()
	msg := "an administrator revoked this device; run `agentctl register` to enroll it again"
	switch {
	case apierror.HasCode(cause, control.CodeDeviceLeft):
		msg = "this device left the organization; run `agentctl register` to enroll it again"
	case apierror.HasCode(cause, control.CodeInvalidToken):
		msg = "the edge no longer accepts this device's credentials; run `agentctl register` to enroll it again"
	}
	ctx, cancel := a.keyringCtx()
	derr := a.store.Delete(ctx)
	cancel()
	if derr != nil {
		// The next start loads it, the edge refuses it again, and the
		// deletion is retried then.
		a.log.Error("deleting the revoked registration from the keyring", zap.Error(derr))
		msg += fmt.Sprintf(" (the old registration could not be removed from the keyring yet: %v)", derr)
	}
	a.mu.Lock()
	a.snap.reg = nil
	a.snap.revoked = msg
	a.snap.persisted.Revoked = msg
	a.snap.reqs, a.snap.access, a.snap.otherReqs = nil, nil, nil
	a.snap.persisted.OperatorUID = nil
	a.snap.persisted.DeviceID, a.snap.persisted.LastSeq = "", 0
	a.snap.persisted.Disconnected = false
	a.publishLocked(ipcproto.EventDeviceRevoked, ipcproto.DeviceRevoked{DeviceID: reg.DeviceID, Message: msg})
	a.updateLocked()
	a.mu.Unlock()
	a.savePersisted()
	a.log.Warn("registration ended at the edge", zap.String("device", reg.DeviceID), zap.Error(cause))
	a.kick()
}
