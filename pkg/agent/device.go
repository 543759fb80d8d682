package agent

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
)

// newDeviceEnrollment starts the device authorization flow (RFC 8628) at
// the edge: the person opens the verification URL on any machine, so there
// is no loopback callback; the agent polls instead (pollDevice).
func (a *Agent) newDeviceEnrollment(ctx context.Context, uid int, team control.Team) (*enrollment, error) {
	verifier := randtoken.New(48)
	ectx, cancel := context.WithTimeout(ctx, a.opts.EdgeTimeout)
	name := a.opts.DeviceName
	if name == "" {
		name = "a ztagent device"
	}
	pair, err := a.client(nil).StartDevice(ectx, control.DeviceCodeRequest{CodeChallenge: pkceChallenge(verifier), Name: name})
	cancel()
	if err != nil {
		return nil, a.edgeError("start the device code registration", err)
	}
	if _, err := session.ValidateBrowseURL(pair.VerificationURIComplete, team.Domain); err != nil {
		return nil, errorf(ipcproto.CodeUnsafeURL, fmt.Sprintf("the edge gave a verification URL agentd will not show (%v)", err), "contact your administrator")
	}
	life := min(a.opts.EnrollmentTimeout, time.Duration(pair.ExpiresIn)*time.Second)
	e := &enrollment{uid: uid, team: team, heldSince: a.clk.Now(), verifier: secret.New(verifier), authURL: pair.VerificationURIComplete,
		device: &pair, done: make(chan struct{}), timer: a.clk.NewTimer(life)}
	return e, nil
}

// pollDevice polls the edge until the person confirmed (then registers as
// after the loopback flow), refused, or the code expired, honouring the
// interval and slow_down (RFC 8628 §3.5).
func (a *Agent) pollDevice(e *enrollment) {
	interval := time.Duration(e.device.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	for a.waitPoll(interval, e.done) {
		ctx, cancel := a.edgeCtx()
		tok, err := a.client(nil).PollDevice(ctx, control.DeviceTokenRequest{DeviceCode: e.device.DeviceCode, CodeVerifier: e.verifier.Reveal()})
		cancel()
		switch {
		case err == nil:
			if e.claimed.CompareAndSwap(false, true) {
				if err := a.completeEnrollment(e, secret.New(tok.Code)); err != nil {
					a.log.Warn("device code registration failed", zap.Error(err))
				}
			}
			return
		case apierror.HasCode(err, control.CodeAuthorizationPending):
		case apierror.HasCode(err, control.CodeSlowDown):
			interval += 5 * time.Second
		case apierror.HasCode(err, control.CodeExpiredToken):
			a.failDevice(e, "enrollment_expired", "the code expired before anyone signed in with it; run `agentctl register --device-code` again")
			return
		case apierror.HasCode(err, control.CodeAccessDenied):
			a.failDevice(e, control.CodeEnrollmentNotPermitted, "the person who signed in with the code may not register a device (the organization's device enrollment permissions); ask your administrator")
			return
		case apierror.HasCode(err, "invalid_grant"):
			a.failDevice(e, "enrollment_refused", "the edge no longer knows this device code; run `agentctl register --device-code` again")
			return
		default:
			// The edge did not answer: keep polling until the code expires
			// (the timer in watchEnrollment ends it).
			a.log.Debug("device code poll failed; retrying", zap.Error(err))
		}
	}
}

func (a *Agent) failDevice(e *enrollment, code, msg string) {
	if e.claimed.CompareAndSwap(false, true) {
		a.enrollmentFailed(e, code, msg)
	}
}

// waitPoll waits one poll interval on the agent's clock, and reports
// false when done closed or agentd stops first.
func (a *Agent) waitPoll(interval time.Duration, done <-chan struct{}) bool {
	t := a.clk.NewTimer(interval)
	select {
	case <-done:
		t.Stop()
		return false
	case <-a.ctx.Done():
		t.Stop()
		return false
	case <-t.C():
		return true
	}
}
