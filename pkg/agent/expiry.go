package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
)

// The agent follows the edge's clock, not only its own: the edge's time
// decides every session (S1), and the simulator's time jumps when an
// administrator advances it. The edge announces such a jump with
// clock_changed; the agent then measures the edge's clock again, and its
// timers fire the warning and the expiry at the edge's moment, without
// waiting for a blocked flow to tell it.

// clockChanged handles the edge's word that its clock moved. The payload's
// time is a lower bound of the edge's time whenever the event is read, so
// it can only move the agent's estimate forward: a replayed old event
// changes nothing. The session view, fetched right after, is the exact
// measurement.
func (a *Agent) clockChanged(ctx context.Context, deviceID string, ev control.Event) {
	var p control.ClockChanged
	if err := json.Unmarshal(ev.Payload, &p); err != nil || p.Now.IsZero() {
		a.log.Warn("a clock_changed event without a readable time", zap.Error(err))
		p.Now = time.Time{}
	}
	a.mu.Lock()
	reg := a.snap.reg
	if reg == nil || reg.DeviceID != deviceID {
		a.mu.Unlock()
		return
	}
	if !p.Now.IsZero() {
		if c := session.NewEdgeClock(p.Now, a.clk.Now()); c.Offset > a.snap.edgeClock.Offset {
			a.snap.edgeClock = c
		}
	}
	a.updateLocked()
	a.mu.Unlock()
	a.log.Info("the edge's clock moved; measuring it again", zap.Time("edge_now", p.Now), zap.String("offset", p.Offset))
	if err := a.refreshSession(ctx, reg); err != nil {
		a.log.Warn("fetching the session limits after the edge's clock moved", zap.Error(err))
	}
	a.mu.Lock()
	a.updateLocked()
	a.mu.Unlock()
	a.kick()
}

// expiryKey names one policy's deadline for one sign-in: each is announced
// once, whether the edge or the agent's own timer noticed it first.
func expiryKey(policyID string, authTime time.Time) string {
	return fmt.Sprintf("%s@%d", policyID, authTime.UnixNano())
}

// noteExpiryLocked records which of the user's policies have expired by
// the edge's clock, and publishes session_expired for each the front-ends
// have not heard of yet. No browser is opened for it: like the client we
// reproduce, the sign-in prompt comes when the user reaches something the
// expired session guards, which the edge signals.
func (a *Agent) noteExpiryLocked(now time.Time) {
	s := &a.snap
	s.expiredNames = nil
	// A service-token device never signed in: the policies that check the
	// session block it for good (no_idp_session), and no sign-in can help,
	// so nothing is announced or asked of anyone.
	if s.reg == nil || s.conn == nil || s.reg.NonIdentity() {
		return
	}
	for _, e := range a.expiryMapLocked(now) {
		if !e.Expired {
			continue
		}
		s.expiredNames = append(s.expiredNames, e.Name)
		key := expiryKey(e.PolicyID, s.reg.AuthTime)
		if s.announced[key] {
			continue
		}
		if s.announced == nil {
			s.announced = map[string]bool{}
		}
		s.announced[key] = true
		a.log.Info("session expired by the edge's clock", zap.String("policy", e.Name), zap.Time("expires_at", e.ExpiresAt))
		a.publishLocked(ipcproto.EventSessionExpired, ipcproto.SessionExpired{PolicyID: e.PolicyID, PolicyName: e.Name, Filter: e.Filter})
	}
	a.forgetAnnouncedLocked()
}

// forgetAnnouncedLocked drops the announcements of earlier sign-ins, so
// the set stays as small as the policy list.
func (a *Agent) forgetAnnouncedLocked() {
	s := &a.snap
	if s.reg == nil {
		s.announced = nil
		return
	}
	suffix := fmt.Sprintf("@%d", s.reg.AuthTime.UnixNano())
	for k := range s.announced {
		if !strings.HasSuffix(k, suffix) {
			delete(s.announced, k)
		}
	}
}

// nextDeadline returns the local time just past the earliest deadline that
// has not expired yet, when the agent's timer must look again.
func (a *Agent) nextDeadline() (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.snap.reg == nil || a.snap.conn == nil {
		return time.Time{}, false
	}
	e, ok := session.NextExpiry(a.expiryMapLocked(a.clk.Now()))
	if !ok {
		return time.Time{}, false
	}
	// A session exactly as old as the duration still passes (S3), so
	// the expiry is the first instant after the deadline.
	return e.ExpiresAtLocal.Add(time.Nanosecond), true
}

// checkExpiry runs when a deadline has passed: the state follows.
func (a *Agent) checkExpiry() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.updateLocked()
}

// nextExpiryLocked returns the earliest deadline of the user's policies
// for status, naming every policy that shares it.
func (a *Agent) nextExpiryLocked(now time.Time) *ipcproto.NextExpiry {
	m := a.expiryMapLocked(now)
	if len(m) == 0 {
		return nil
	}
	first := m[0]
	names := []string{first.Name}
	for _, e := range m[1:] {
		if e.ExpiresAt.Equal(first.ExpiresAt) {
			names = append(names, e.Name)
		}
	}
	return &ipcproto.NextExpiry{PolicyName: strings.Join(names, ", "), ExpiresAt: first.ExpiresAt, Expired: first.Expired}
}

// expiredMessage says which policies the edge's clock says expired.
func expiredMessage(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	what := "policy " + q[0]
	if len(q) > 1 {
		what = "policies " + strings.Join(q, ", ")
	}
	return fmt.Sprintf("your client session expired by the edge's clock (%s); run `agentctl reauth` to sign in again", what)
}
