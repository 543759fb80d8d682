package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

// Operator returns the uid that registered the device and whether the
// device is registered. While the keyring cannot be read, the device counts
// as registered if it was when agentd last knew, so that an outage does
// not let any user take it over.
func (a *Agent) Operator() (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	uid := -1
	if p := a.snap.persisted.OperatorUID; p != nil {
		uid = *p
	}
	if a.snap.reg != nil {
		return uid, true
	}
	unknown := a.snap.keyringErr != "" || a.snap.starting
	return uid, unknown && a.snap.persisted.OperatorUID != nil
}

// Connect brings the tunnel up and follows the edge, and remembers that
// the user wants it up.
func (a *Agent) Connect(context.Context) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	_, err := a.registrationLocked()
	if err == nil {
		a.snap.persisted.Disconnected = false
	}
	a.mu.Unlock()
	if err != nil {
		return err
	}
	saveErr := a.savePersisted()
	if err := a.connect(); err != nil {
		return err
	}
	if saveErr != nil {
		return notSaved("connected", saveErr)
	}
	return nil
}

// switchLockedError is the refusal of a disconnect the MDM file forbids.
func switchLockedError() error {
	return errorf(ipcproto.CodeSwitchLocked, "the MDM file locks the switch (switch_locked), so the tunnel stays on",
		"ask your administrator; root may still run `sudo agentctl disconnect`")
}

// Disconnect stops the tunnel and the control stream, and remembers that
// the user wants them down.
func (a *Agent) Disconnect(_ context.Context, caller ipc.Caller) error {
	if a.switchLocked() && !caller.IsRoot() {
		return switchLockedError()
	}
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	_, err := a.registrationLocked()
	if err == nil {
		a.snap.persisted.Disconnected = true
		a.snap.lastFailure = ""
	}
	a.mu.Unlock()
	if err != nil {
		return err
	}
	saveErr := a.savePersisted()
	a.disconnect()
	a.scheduleAutoConnect()
	if saveErr != nil {
		return notSaved("disconnected", saveErr)
	}
	return nil
}

// Leave leaves the organization when the edge allows it (S13): the edge
// forgets the device, then the agent stops the tunnel and deletes the
// registration.
func (a *Agent) Leave(ctx context.Context) error {
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	reg, err := a.registrationLocked()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	ectx, cancel := context.WithTimeout(ctx, a.opts.EdgeTimeout)
	err = a.client(reg).Leave(ectx, reg.DeviceID)
	cancel()
	switch {
	case apierror.HasCode(err, ipcproto.CodeNotAllowedToLeave):
		// The edge's message names the device profile that forbids it.
		return errorf(ipcproto.CodeNotAllowedToLeave, "your organization does not allow users to remove this device ("+secret.Scrub(edgeMessage(err))+")",
			"ask an administrator to revoke the device")
	case err != nil && !control.IsRevocation(err):
		return a.edgeError("leave the organization", err)
	}
	a.disconnect()
	kctx, kcancel := a.keyringCtx()
	derr := a.store.Delete(kctx)
	kcancel()
	a.mu.Lock()
	defer func() {
		a.mu.Unlock()
		// The operator is also in the (deleted) keyring record, so a
		// stale one here is dropped at the next start.
		_ = a.savePersisted()
	}()
	a.snap.reg = nil
	a.snap.reqs, a.snap.access, a.snap.otherReqs = nil, nil, nil
	a.snap.persisted.OperatorUID = nil
	a.snap.persisted.DeviceID, a.snap.persisted.LastSeq = "", 0
	a.snap.persisted.Disconnected = false
	a.snap.lastFailure = "this device left the organization; run `agentctl register` to enroll it again"
	if derr != nil {
		a.keyringFailedLocked("delete the registration", derr)
		a.updateLocked()
		return errorf(ipcproto.CodeKeyringUnavailable,
			fmt.Sprintf("the device left the organization, but its registration could not be deleted from the keyring (%v)", derr),
			"unlock the keyring; the stale registration is refused by the edge and removed at the next start")
	}
	a.updateLocked()
	a.log.Info("left the organization", zap.String("device", reg.DeviceID))
	return nil
}

// Explain returns the edge's decision trace for a flow to dst.
func (a *Agent) Explain(ctx context.Context, dst, proto string) (json.RawMessage, error) {
	a.mu.Lock()
	reg, err := a.registrationLocked()
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if proto == "" {
		proto = "tcp"
	}
	ectx, cancel := context.WithTimeout(ctx, a.opts.EdgeTimeout)
	defer cancel()
	ex, err := a.client(reg).Explain(ectx, reg.DeviceID, dst, proto)
	if err != nil {
		return nil, a.edgeError("explain the decision", err)
	}
	raw, err := json.Marshal(ex)
	if err != nil {
		return nil, fmt.Errorf("encode the edge's decision trace: %w", err)
	}
	return raw, nil
}

// Settings returns the tunnel settings in force.
func (a *Agent) Settings(context.Context) ipcproto.Settings {
	a.mu.Lock()
	defer a.mu.Unlock()
	mode, addr := a.settingsLocked()
	return ipcproto.Settings{Mode: string(mode), ProxyAddr: addr}
}

// SetSettings changes the non-empty settings, persists them, and restarts
// a running tunnel so that they take effect.
func (a *Agent) SetSettings(_ context.Context, s ipcproto.Settings) error {
	if s.Mode != "" {
		if _, err := tunnel.ParseMode(s.Mode); err != nil {
			return errorf(ipcproto.CodeBadRequest, fmt.Sprintf("mode %q is not proxy or tun", s.Mode), "use `agentctl settings set mode proxy` or `… mode tun`")
		}
	}
	if s.ProxyAddr != "" {
		ap, err := netip.ParseAddrPort(s.ProxyAddr)
		if err != nil || !ap.Addr().IsLoopback() {
			return errorf(ipcproto.CodeBadRequest, fmt.Sprintf("proxy_addr %q is not a loopback IP:port", s.ProxyAddr),
				"the proxy listens on loopback only, e.g. 127.0.0.1:40000")
		}
	}
	a.opMu.Lock()
	defer a.opMu.Unlock()
	a.mu.Lock()
	before, _ := a.settingsLocked()
	beforeMode, beforeAddr := a.snap.persisted.Mode, a.snap.persisted.ProxyAddr
	if s.Mode != "" {
		a.snap.persisted.Mode = s.Mode
	}
	if s.ProxyAddr != "" {
		a.snap.persisted.ProxyAddr = s.ProxyAddr
	}
	after, _ := a.settingsLocked()
	changed := before != after || beforeAddr != a.snap.persisted.ProxyAddr
	running := a.snap.conn != nil
	a.mu.Unlock()
	if err := a.savePersisted(); err != nil {
		// Nothing changed that a restart would keep: undo it all.
		a.mu.Lock()
		a.snap.persisted.Mode, a.snap.persisted.ProxyAddr = beforeMode, beforeAddr
		a.mu.Unlock()
		return errorf(ipcproto.CodeStateNotSaved, fmt.Sprintf("agentd could not save the settings (%v); nothing was changed", err),
			"free space on that disk (or fix its permissions), then run the command again")
	}
	if changed && running {
		a.disconnect()
		return a.connect()
	}
	return nil
}
