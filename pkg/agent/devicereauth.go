package agent

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
)

// deviceReauth is one re-authentication with a device code: the code pair
// and the verifier the edge bound it to. A newer one replaces it.
type deviceReauth struct {
	pair     control.DevicePair
	verifier string
	deviceID string
	done     chan struct{}
}

// startDeviceReauth asks the edge for a code pair that re-authenticates
// this device (agentctl reauth --device-code): the person signs in on any
// machine as the device's user, and the sign-in refreshes the session at
// the edge (S2), which tells the agent through its stream as for any
// sign-in. agentd polls meanwhile, to report a refusal or an expiry.
func (a *Agent) startDeviceReauth(ctx context.Context, reg *session.Registration) (ipcproto.AuthURL, error) {
	verifier := randtoken.New(48)
	name := a.opts.DeviceName
	if name == "" {
		name = "a ztagent device"
	}
	ectx, cancel := context.WithTimeout(ctx, a.opts.EdgeTimeout)
	pair, err := a.client(reg).StartDeviceReauth(ectx, reg.DeviceID, control.DeviceCodeRequest{CodeChallenge: pkceChallenge(verifier), Name: name})
	cancel()
	if err != nil {
		return ipcproto.AuthURL{}, a.edgeError("start the re-authentication with a device code", err)
	}
	if _, err := session.ValidateBrowseURL(pair.VerificationURIComplete, reg.Team.Domain); err != nil {
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeUnsafeURL, fmt.Sprintf("the edge gave a verification URL agentd will not show (%v)", err), "contact your administrator")
	}
	r := &deviceReauth{pair: pair, verifier: verifier, deviceID: reg.DeviceID, done: make(chan struct{})}
	a.mu.Lock()
	if old := a.snap.deviceReauth; old != nil {
		close(old.done)
	}
	a.snap.deviceReauth = r
	a.mu.Unlock()
	if !a.spawn(func() { a.pollDeviceReauth(r) }) {
		return ipcproto.AuthURL{}, errorf(ipcproto.CodeShuttingDown, "agentd is shutting down", "")
	}
	a.log.Info("re-authentication with a device code started", zap.String("device", reg.DeviceID))
	return ipcproto.AuthURL{AuthURL: pair.VerificationURIComplete, TeamDomain: reg.Team.Domain,
		UserCode: pair.UserCode, VerificationURI: pair.VerificationURI}, nil
}

// pollDeviceReauth polls until the person signed in, was refused, or the
// code expired (RFC 8628 §3.5), or a newer re-authentication, the
// registration's end or agentd's replaces it.
func (a *Agent) pollDeviceReauth(r *deviceReauth) {
	defer func() {
		a.mu.Lock()
		if a.snap.deviceReauth == r {
			a.snap.deviceReauth = nil
		}
		a.mu.Unlock()
	}()
	interval := time.Duration(r.pair.Interval) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	deadline := a.clk.Now().Add(time.Duration(r.pair.ExpiresIn) * time.Second)
	for a.waitPoll(interval, r.done) {
		a.mu.Lock()
		reg := a.snap.reg
		a.mu.Unlock()
		if reg == nil || reg.DeviceID != r.deviceID {
			return
		}
		ctx, cancel := a.edgeCtx()
		tok, err := a.client(reg).PollDevice(ctx, control.DeviceTokenRequest{DeviceCode: r.pair.DeviceCode, CodeVerifier: r.verifier})
		cancel()
		switch {
		case err == nil && tok.Reauthenticated:
			// The edge's session_refreshed event, on the stream, brings the
			// new auth_time to the registration as for any sign-in.
			a.log.Info("re-authenticated with a device code", zap.Time("auth_time", tok.AuthTime))
			return
		case err == nil:
			a.failDeviceReauth("the edge answered the device code with an enrollment code instead of a re-authentication; run `agentctl reauth` again")
			return
		case apierror.HasCode(err, control.CodeAuthorizationPending):
		case apierror.HasCode(err, control.CodeSlowDown):
			interval += 5 * time.Second
		case apierror.HasCode(err, control.CodeExpiredToken):
			a.failDeviceReauth("the code expired before anyone signed in with it; run `agentctl reauth --device-code` again")
			return
		case apierror.HasCode(err, control.CodeAccessDenied):
			a.failDeviceReauth(fmt.Sprintf("someone other than %s signed in with the code, so the session was not refreshed; sign in as %s (run `agentctl reauth --device-code` again)", reg.User.Email, reg.User.Email))
			return
		case apierror.HasCode(err, "invalid_grant"):
			a.failDeviceReauth("the edge no longer knows this device code; run `agentctl reauth --device-code` again")
			return
		default:
			if !a.clk.Now().Before(deadline) {
				a.failDeviceReauth("the edge did not answer until the code expired; run `agentctl reauth --device-code` again")
				return
			}
			a.log.Debug("device code poll failed; retrying", zap.Error(err))
		}
	}
}

// failDeviceReauth tells the operator why the re-authentication ended.
func (a *Agent) failDeviceReauth(msg string) {
	a.log.Warn("re-authentication with a device code failed", zap.String("reason", msg))
	a.mu.Lock()
	a.publishToLocked(a.operatorAudienceLocked(), ipcproto.EventError, ipcproto.ErrorEvent{Code: "reauth_failed", Message: msg})
	a.mu.Unlock()
}
