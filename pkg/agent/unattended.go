package agent

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/mdm"
	"github.com/ztagent/ztagent/pkg/session"
)

// Backoff of the unattended enrollment while the edge cannot be reached.
const (
	unattendedFirstRetry = 5 * time.Second
	unattendedMaxRetry   = 5 * time.Minute
)

// retryable are the failures of an unattended enrollment that are not the
// edge refusing the token: the edge or the keyring did not answer. They
// are retried; anything else is reported and not tried again.
var retryable = map[string]bool{
	ipcproto.CodeEdgeUnreachable: true, control.CodeInternal: true, ipcproto.CodeKeyringUnavailable: true,
}

// unattended is the state of enrollment from the MDM file's service token.
type unattended struct {
	settings *mdm.Settings
	running  bool
	// failure is why the last attempt was refused; it stays until the
	// MDM file changes or an administrator registers again.
	failure string
	// autoGen counts disconnects, so that an auto_connect timer knows
	// whether it is still the latest one's.
	autoGen int
}

// SetMDM applies the MDM file's settings (nil: there is no file). With a
// service token in them and the device neither registered nor revoked,
// agentd enrolls unattended. A revoked device stays revoked until an
// administrator runs `agentctl register` (then the token is used again):
// never in a loop.
func (a *Agent) SetMDM(s *mdm.Settings) {
	a.mu.Lock()
	a.snap.mdm.settings = s
	a.snap.mdm.failure = ""
	a.updateLocked()
	a.mu.Unlock()
	a.maybeEnrollUnattended()
}

// Refusal returns the switch_locked refusal of a disconnect by anyone but
// root, so that GET /v1/permissions tells a tray not to offer it
// (ipc.ActionLimiter).
func (a *Agent) Refusal(caller ipc.Caller, method, path string) error {
	if method == http.MethodPost && path == "/v1/disconnect" && a.switchLocked() && !caller.IsRoot() {
		return switchLockedError()
	}
	return nil
}

// switchLocked reports whether the MDM file locks the switch: then only root
// may disconnect.
func (a *Agent) switchLocked() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snap.mdm.settings != nil && a.snap.mdm.settings.SwitchLocked
}

// maybeEnrollUnattended starts the unattended enrollment when the MDM
// file gives a service token and nothing else holds the device.
func (a *Agent) maybeEnrollUnattended() {
	a.mu.Lock()
	u := &a.snap.mdm
	ok := u.settings.HasServiceToken() && !u.running && u.failure == "" && a.snap.reg == nil &&
		a.snap.enroll == nil && a.snap.persisted.Revoked == "" && !a.snap.starting && a.snap.keyringErr == ""
	if ok {
		u.running = true
	}
	a.mu.Unlock()
	if ok && !a.spawn(a.enrollUnattended) {
		a.mu.Lock()
		u.running = false
		a.mu.Unlock()
	}
}

// enrollUnattended registers with the service token, retrying with a
// growing backoff while the edge is unreachable; a refusal (wrong or
// expired token, no enrollment permission) stops it with the edge's
// reason in status, so that a wrong secret costs one attempt, not a
// storm.
func (a *Agent) enrollUnattended() {
	defer func() {
		a.mu.Lock()
		a.snap.mdm.running = false
		a.updateLocked()
		a.mu.Unlock()
	}()
	wait := unattendedFirstRetry
	for {
		a.mu.Lock()
		s := a.snap.mdm.settings
		done := !s.HasServiceToken() || a.snap.reg != nil || a.snap.persisted.Revoked != ""
		a.mu.Unlock()
		if done || a.ctx.Err() != nil {
			return
		}
		err := a.registerWithServiceToken(s, 0)
		if err == nil {
			return
		}
		var ae *apierror.Error
		if errors.As(err, &ae) && !retryable[ae.Code] {
			msg := fmt.Sprintf("unattended enrollment with the service token of %s failed: %s; fix the file (agentd reads it again on SIGHUP) or run `sudo agentctl register` once the token is fixed at the edge", s.File, ae.Message)
			a.mu.Lock()
			a.snap.mdm.failure = msg
			a.updateLocked()
			a.mu.Unlock()
			a.log.Error("unattended enrollment refused; not retrying", zap.String("mdm", s.File), zap.String("code", ae.Code), zap.String("reason", ae.Message))
			return
		}
		a.log.Warn("unattended enrollment did not complete; retrying", zap.Duration("in", wait), zap.Error(err))
		t := a.clk.NewTimer(wait)
		select {
		case <-t.C():
		case <-a.ctx.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, unattendedMaxRetry)
	}
}

// registerWithServiceToken registers the device with the MDM file's
// service token for team s.Organization, as operator uid. Errors are
// *apierror.Error with an IPC code.
func (a *Agent) registerWithServiceToken(s *mdm.Settings, uid int) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	return a.registerWithServiceTokenOpLocked(s, uid)
}

// registerWithServiceTokenOpLocked is registerWithServiceToken with opMu
// held.
func (a *Agent) registerWithServiceTokenOpLocked(s *mdm.Settings, uid int) error {
	a.mu.Lock()
	registered := a.snap.reg != nil
	a.mu.Unlock()
	if registered {
		return nil
	}
	ctx, cancel := a.edgeCtx()
	defer cancel()
	team, err := a.client(nil).Team(ctx, s.Organization)
	if apierror.HasCode(err, control.CodeUnknownTeam) {
		return errorf(control.CodeUnknownTeam, fmt.Sprintf("the edge knows no team %q (organization in %s)", s.Organization, s.File), "")
	}
	if err != nil {
		return errorf(ipcproto.CodeEdgeUnreachable, fmt.Sprintf("the edge at %s did not answer (%v)", a.opts.EdgeAPI, err), "")
	}
	key, pub, err := newWireGuardKey()
	if err != nil {
		return errorf(ipcproto.CodeInternal, err.Error(), "")
	}
	creg, err := a.client(nil).Register(ctx, control.RegisterRequest{
		ServiceToken: &control.ServiceTokenCredentials{ClientID: s.AuthClientID, ClientSecret: s.AuthClientSecret.Reveal()},
		WGPublicKey:  pub, DeviceFingerprint: a.fingerprint(), Name: a.opts.DeviceName, OS: runtime.GOOS,
	})
	if err != nil {
		code, msg := registerFailure(err, a.opts.EdgeAPI)
		if ae := (*apierror.Error)(nil); errors.As(err, &ae) && ae.Status >= http.StatusInternalServerError {
			code = ipcproto.CodeEdgeUnreachable // the edge's trouble: worth retrying
		}
		return errorf(code, msg, "")
	}
	if err := pinnedTeam(team, creg.Team); err != nil {
		return errorf("team_domain_mismatch", fmt.Sprintf("the edge's registration answer does not match team %q (%v); nothing was stored", team.Name, err), "")
	}
	if creg.ServiceToken == nil {
		return errorf(ipcproto.CodeInternal, "the edge registered the device to a person, not to the service token; nothing was stored", "")
	}
	if code, msg := a.adoptNewRegistration(creg, key, uid, session.EnrolledViaServiceToken, func() {
		a.snap.mdm.failure = ""
		a.snap.revoked, a.snap.lastFailure = "", ""
	}); code != "" {
		return errorf(code, msg, "")
	}
	a.log.Info("enrolled unattended with the MDM file's service token", zap.String("mdm", s.File), zap.String("token", creg.ServiceToken.Name))
	if err := a.connect(); err != nil {
		a.log.Error("connecting", zap.Error(err))
	}
	return nil
}

func (a *Agent) mdmSettings() *mdm.Settings {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snap.mdm.settings
}
