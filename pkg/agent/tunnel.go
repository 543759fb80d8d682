package agent

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

// Tunnel is the part of *tunnel.Tunnel the agent uses; tests pass fakes.
type Tunnel interface {
	// ProxyAddr returns the local proxy's address ("" in tun mode).
	ProxyAddr() string
	// InterfaceName returns the TUN interface ("" in proxy mode).
	InterfaceName() string
	// Stats returns the device's view of the edge.
	Stats() (tunnel.Stats, error)
	// Close stops the tunnel and every goroutine it started.
	Close() error
}

// TunnelStarter brings a tunnel up; tunnel.New is the real one.
type TunnelStarter func(ctx context.Context, cfg tunnel.Config, opts tunnel.Options) (Tunnel, error)

func startRealTunnel(ctx context.Context, cfg tunnel.Config, opts tunnel.Options) (Tunnel, error) {
	t, err := tunnel.New(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// connection is a running tunnel and the control stream that follows the
// edge for it. The follower goroutine is the stream's owner; done closes
// when it has returned.
type connection struct {
	tun       Tunnel
	mode      tunnel.Mode
	endpoint  string
	addresses []string
	since     time.Time
	deviceID  string

	cancel context.CancelFunc
	done   chan struct{}
}

// settingsLocked returns the tunnel settings in force.
func (a *Agent) settingsLocked() (tunnel.Mode, string) {
	mode, addr := a.opts.Mode, a.opts.ProxyAddr
	if p := a.snap.persisted; p.Mode != "" {
		mode = tunnel.Mode(p.Mode)
	}
	if p := a.snap.persisted; p.ProxyAddr != "" {
		addr = p.ProxyAddr
	}
	return mode, addr
}

// connect brings the tunnel up and starts following the control stream.
// The caller holds opMu.
func (a *Agent) connect() error {
	a.mu.Lock()
	reg, running := a.snap.reg, a.snap.conn != nil
	mode, proxyAddr := a.settingsLocked()
	a.mu.Unlock()
	if reg == nil || running {
		return nil
	}
	topts := a.opts.TunnelOptions
	topts.Mode, topts.ProxyAddr, topts.Clock = mode, proxyAddr, a.clk
	if topts.Logger == nil {
		topts.Logger = a.log.Named("tunnel")
	}
	if topts.ExplainRefusal == nil {
		topts.ExplainRefusal = a.explainRefusal // so the proxy can say "session expired"
	}
	ctx, cancel := a.edgeCtx()
	tun, err := a.opts.StartTunnel(ctx, tunnel.ConfigFromRegistration(reg), topts)
	cancel()
	if err != nil {
		msg := fmt.Sprintf("the tunnel could not start in %s mode: %v; check `agentctl settings get`, then run `agentctl connect`", mode, err)
		a.mu.Lock()
		a.snap.lastFailure = msg
		a.updateLocked()
		a.publishLocked(ipcproto.EventError, ipcproto.ErrorEvent{Code: "tunnel_failed", Message: msg})
		a.mu.Unlock()
		return errorf(ipcproto.CodeTunnelFailed, msg, "")
	}
	cctx, ccancel := context.WithCancel(a.ctx)
	c := &connection{
		tun: tun, mode: mode, endpoint: reg.Tunnel.Endpoint, addresses: reg.Tunnel.Addresses,
		since: a.clk.Now(), deviceID: reg.DeviceID, cancel: ccancel, done: make(chan struct{}),
	}
	a.mu.Lock()
	a.snap.conn = c
	a.snap.lastFailure = ""
	a.snap.streamUp, a.snap.streamErr = false, ""
	after := int64(0)
	if a.snap.persisted.DeviceID == reg.DeviceID {
		after = a.snap.persisted.LastSeq
	}
	a.publishLocked(ipcproto.EventTunnelUp, a.statusLocked().Tunnel)
	a.updateLocked()
	a.mu.Unlock()
	a.log.Info("tunnel up", zap.String("mode", string(mode)), zap.String("proxy", tun.ProxyAddr()), zap.String("endpoint", reg.Tunnel.Endpoint))
	if !a.spawn(func() { a.follow(cctx, c, reg, after) }) {
		// Close has begun, and its shutdown may have run already.
		ccancel()
		close(c.done)
		a.disconnect()
		return errorf(ipcproto.CodeShuttingDown, "agentd is shutting down", "")
	}
	return nil
}

// disconnect stops the control stream and the tunnel. The caller holds
// opMu.
func (a *Agent) disconnect() {
	a.mu.Lock()
	c := a.snap.conn
	a.mu.Unlock()
	if c == nil {
		return
	}
	c.cancel()
	<-c.done
	if err := c.tun.Close(); err != nil {
		a.log.Warn("closing the tunnel", zap.Error(err))
	}
	a.mu.Lock()
	a.snap.conn = nil
	a.snap.streamUp, a.snap.streamErr = false, ""
	a.publishLocked(ipcproto.EventTunnelDown, ipcproto.Tunnel{Mode: string(c.mode), Endpoint: c.endpoint, Addresses: c.addresses})
	a.updateLocked()
	a.mu.Unlock()
	a.log.Info("tunnel down")
}

// registrationLocked returns the registration, or the IPC error a caller
// needing one gets.
func (a *Agent) registrationLocked() (*session.Registration, error) {
	if r := a.snap.reg; r != nil {
		return r, nil
	}
	if a.snap.keyringErr == "" && a.snap.starting {
		return nil, errorf(ipcproto.CodeKeyringUnavailable, "agentd is still reading the registration from the keyring", "try again in a moment")
	}
	if a.snap.keyringErr != "" {
		return nil, errorf(ipcproto.CodeKeyringUnavailable, "agentd cannot read the registration: "+a.snap.message, "unlock the keyring; agentd tries again by itself")
	}
	return nil, errorf(ipcproto.CodeNotRegistered, "this device is not registered", "run `agentctl register` first")
}
