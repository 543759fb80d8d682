package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/ztagent/ztagent/internal/secret"
)

// ErrClosed is returned by the methods of a Tunnel after Close.
var ErrClosed = errors.New("the tunnel is closed")

// Tunnel is a running WireGuard device with the edge as its one peer, and in
// proxy mode the local proxy in front of it.
type Tunnel struct {
	opts   Options
	log    *zap.Logger
	link   link
	dev    *device.Device
	dialer *dialer
	proxy  *proxy // nil in tun mode
	devLog *deviceLog
	events *eventFilter
	memLim memoryLimitHold

	mu     sync.Mutex // serializes Reconfigure and Close
	s      settings
	closed bool
}

// New returns a running tunnel: it creates the device for opts.Mode, configures
// it from cfg, and in proxy mode starts the local proxy. ctx bounds
// resolving the endpoint's host name.
func New(ctx context.Context, cfg Config, opts Options) (*Tunnel, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s, err := parseConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t := &Tunnel{opts: opts, log: opts.Logger.Named("tunnel"), s: s}

	// Claim the proxy's address first: it is the likeliest thing to fail
	// (another agent, or WARP itself, on port 40000) and the cheapest to undo.
	var ln net.Listener
	if opts.Mode == ModeProxy {
		if ln, err = listenProxy(opts.ProxyAddr); err != nil {
			return nil, err
		}
	}
	t.memLim = holdMemoryLimit(opts.MemoryLimit)
	fail := func(err error) (*Tunnel, error) {
		t.memLim.release()
		if ln != nil {
			ln.Close()
		}
		if t.dev != nil {
			t.dev.Close() // closes the link's tun.Device too
			<-t.events.done
			t.devLog.silence()
		} else if t.link != nil {
			t.link.device().Close()
		}
		if t.link != nil {
			t.link.close()
		}
		return nil, err
	}

	if opts.Mode == ModeTUN {
		t.link, err = newTUNLink(s, opts)
	} else {
		t.link, err = newNetstackLink(s)
	}
	if err != nil {
		return fail(err)
	}
	t.devLog = &deviceLog{log: t.log.Named("wg")}
	t.events = filterEvents(t.link.device())
	t.dev = device.NewDevice(t.events, conn.NewDefaultBind(), t.devLog.logger())
	if err := t.ipcSet(uapiFull(s, opts.ListenPort, opts.keepaliveSeconds())); err != nil {
		return fail(err)
	}
	if err := t.dev.Up(); err != nil {
		return fail(fmt.Errorf("bring the WireGuard device up: %w; is UDP port %d free?", err, opts.ListenPort))
	}
	// wireguard-go forgets a listen port it failed to bind and binds a
	// random one at the next Up: check that the port asked for is held.
	if opts.ListenPort != 0 {
		if st, err := t.stats(); err != nil || st.ListenPort != opts.ListenPort {
			return fail(fmt.Errorf("the WireGuard device cannot listen on UDP port %d: it is in use; choose another port or 0 for any", opts.ListenPort))
		}
	}
	t.dialer = &dialer{link: t.link, timeout: opts.DialTimeout, s: s}
	if ln != nil {
		t.proxy = newProxy(ln, t.dialer, opts, t.log.Named("proxy"))
	}
	t.log.Info("tunnel up",
		zap.String("mode", string(opts.Mode)),
		zap.Stringer("endpoint", s.endpoint),
		zap.Stringer("edge_public_key", s.edgePub),
		zap.Stringers("addresses", s.addresses),
		zap.Stringers("allowed_ips", s.allowed),
		zap.Int("mtu", s.mtu),
		zap.String("interface", t.link.name()),
		zap.String("proxy", t.ProxyAddr()))
	return t, nil
}

// ipcSet applies UAPI text; the error never carries the text itself, which
// holds the private key.
func (t *Tunnel) ipcSet(uapi string) error {
	if err := t.dev.IpcSet(uapi); err != nil {
		return fmt.Errorf("configure the WireGuard device: %s", secret.Scrub(err.Error()))
	}
	return nil
}

// Reconfigure applies cfg to the running device: a new endpoint, a rotated
// device private key or edge public key, or new allowed IPs (and their
// routes in tun mode) take effect without closing the tunnel or the proxy;
// flows already open keep going when only the allowed IPs change. A change
// of addresses, DNS servers or MTU cannot be applied to a running device:
// Reconfigure then returns an error and changes nothing, and the caller
// closes this Tunnel and starts a new one.
func (t *Tunnel) Reconfigure(ctx context.Context, cfg Config) error {
	s, err := parseConfig(ctx, cfg)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	old := t.s
	if what := old.restartNeeded(s); what != "" {
		return fmt.Errorf("the tunnel's %s changed: a running tunnel cannot change them; close it and start a new one", what)
	}
	if err := t.link.check(s); err != nil {
		return err
	}
	if uapi := uapiChange(old, s, t.opts.keepaliveSeconds()); uapi != "" {
		if err := t.ipcSet(uapi); err != nil {
			return err
		}
	}
	// The device runs s now, whatever happens to the routes; a failed
	// route change is retried by the next Reconfigure (setRoutes works
	// from what it installed).
	t.s = s
	t.dialer.update(s)
	if err := t.link.setRoutes(s.allowed); err != nil {
		return err
	}
	t.log.Info("tunnel reconfigured",
		zap.Bool("private_key_changed", !old.priv.Equal(s.priv)),
		zap.Bool("edge_key_changed", old.edgePub != s.edgePub),
		zap.Stringer("endpoint", s.endpoint),
		zap.Stringer("edge_public_key", s.edgePub),
		zap.Stringers("allowed_ips", s.allowed))
	return nil
}

// Stats returns the device's view of the edge: endpoint, last handshake,
// traffic counters.
func (t *Tunnel) Stats() (Stats, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return Stats{}, ErrClosed
	}
	return t.stats()
}

func (t *Tunnel) stats() (Stats, error) {
	text, err := t.dev.IpcGet()
	if err != nil {
		return Stats{}, fmt.Errorf("read the WireGuard device's state: %s", secret.Scrub(err.Error()))
	}
	st := parseStats(text)
	st.EdgePublicKey = t.s.edgePub.String()
	return st, nil
}

// ProxyAddr returns the address the local proxy listens on ("" in tun mode);
// with a configured port 0 it carries the port actually chosen.
func (t *Tunnel) ProxyAddr() string {
	if t.proxy == nil {
		return ""
	}
	return t.proxy.addr().String()
}

// InterfaceName returns the TUN interface's name ("" in proxy mode).
func (t *Tunnel) InterfaceName() string { return t.link.name() }

// Addresses returns the device's addresses inside the tunnel.
func (t *Tunnel) Addresses() []netip.Prefix {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]netip.Prefix(nil), t.s.addresses...)
}

func (t *Tunnel) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close stops the proxy and its connections, then the device, its UDP
// socket and the netstack or TUN interface, and returns once every
// goroutine they started has ended. Calling it again does nothing.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()

	// The proxy first: its connections write into the netstack, which the
	// device's Close tears down.
	if t.proxy != nil {
		t.proxy.close()
	}
	t.dev.Close()
	<-t.events.done
	t.devLog.silence()
	err := t.link.close()
	t.memLim.release()
	t.log.Info("tunnel down")
	return err
}
