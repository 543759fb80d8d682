// Package simulator assembles the simulated edge that cmd/edged runs and the
// in-process tests start: the device registry, the built-in IdP, the team
// domain (Access), the WireGuard server with the Gateway's decisions, and
// the control and admin APIs, all driven by one loaded configuration and
// one simulated clock.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ztagent/ztagent/internal/atomicfile"
	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/edge/admin"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/edge/idp"
	"github.com/ztagent/ztagent/pkg/edge/internal/limits"
	"github.com/ztagent/ztagent/pkg/edge/registry"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// Options configures Start.
type Options struct {
	// TerraformDir and SimFile are the configuration (--terraform, --sim).
	TerraformDir string
	SimFile      string
	// StateDir holds edge.db, the admin token and the WireGuard key.
	StateDir string
	// AdminTokenFile overrides <StateDir>/admin.token.
	AdminTokenFile string
	// Listen overrides the simulator file's listeners; port 0 picks a free
	// port (tests).
	Listen Listeners
	// Clock is the base of the simulated time; clock.Real() when nil.
	Clock clock.Clock
	// Logger; zap.NewNop() when nil.
	Logger *zap.Logger
	// BcryptCost of the IdP's password hashes; idp.DefaultBcryptCost when zero
	// (tests pass bcrypt.MinCost).
	BcryptCost int

	// HTTP bounds the API, team domain and IdP listeners; zero fields
	// take the defaults of DefaultHTTPLimits.
	HTTP HTTPLimits

	// writeFile replaces the atomic writer of the clock offset, so that
	// tests can make the disk fail.
	writeFile func(path string, data []byte, perm os.FileMode) error
}

// HTTPLimits bound each of the edge's HTTP listeners, so that slow or
// idle clients cannot take every file descriptor (issue 12 item 14).
type HTTPLimits struct {
	// MaxConns is how many connections one listener holds at once; see
	// limits.Listener for what happens at the bound.
	MaxConns int
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout
	// the whole request with its body (event streams lift it once
	// authenticated), IdleTimeout a kept-alive connection between
	// requests.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
}

// DefaultHTTPLimits returns the limits edged runs with: room for far more
// agents (one event stream each) and browsers than a simulated
// organization has, and timeouts that a person on a slow network never
// meets. ReadTimeout is also how long a fresh request waits at worst while
// slow bodies hold every slot, so it is short: 10 s still reads the
// largest body (64 KiB) at 64 kbit/s. Three listeners at MaxConns
// need more than the common soft limit of 1024 file descriptors: edged
// raises it to the hard limit at start and lowers MaxConns to fit what it
// got.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{MaxConns: 1000, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := DefaultHTTPLimits()
	if l.MaxConns > 0 {
		d.MaxConns = l.MaxConns
	}
	if l.ReadHeaderTimeout > 0 {
		d.ReadHeaderTimeout = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		d.ReadTimeout = l.ReadTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	return d
}

// Simulator is a running edge. Close stops it.
type Simulator struct {
	opts  Options
	log   *zap.Logger
	clock *clock.Offset

	reg     *registry.Registry
	idp     *idp.Provider
	team    *teamDomain
	wg      *wg.Server
	peers   *peers
	gateway *gatewayHooks

	adminToken     secret.Value
	adminTokenPath string
	tokens         *serviceTokens

	cfg        atomic.Pointer[config]
	fileListen tfconfig.Listeners // as configured, before free ports were picked
	reloadMu   sync.Mutex         // one reload at a time
	clockSave  sync.Mutex         // one save of the clock offset at a time
	writeFile  func(path string, data []byte, perm os.FileMode) error

	// baseCtx is every request's parent; Close cancels it first, so that
	// event streams end and Shutdown does not wait for them.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	apiAddr, teamAddr, idpAddr netip.AddrPort
	servers                    []*http.Server
	listeners                  []*limits.Listener // the servers', for tests to count connections
	serving                    sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start loads the configuration and starts every listener. A configuration
// with errors returns a *ConfigError listing all of them (REL7); a busy
// port names the listener and the flag that moves it.
func Start(ctx context.Context, opts Options) (_ *Simulator, err error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	cfg, err := loadConfig(opts.TerraformDir, opts.SimFile, opts.Listen)
	if err != nil {
		return nil, err
	}
	if err := prepareStateDir(opts.StateDir); err != nil {
		return nil, err
	}
	s := &Simulator{opts: opts, log: opts.Logger, clock: clock.NewOffset(opts.Clock), writeFile: opts.writeFile}
	if s.writeFile == nil {
		s.writeFile = func(path string, data []byte, perm os.FileMode) error {
			return atomicfile.WriteFile(path, data, perm)
		}
	}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	s.cfg.Store(cfg)

	offset, err := loadClockOffset(opts.StateDir)
	if err != nil {
		return nil, err
	}
	_ = s.clock.Advance(offset) // non-negative, checked by loadClockOffset
	if s.adminToken, s.adminTokenPath, err = adminToken(opts.StateDir, opts.AdminTokenFile); err != nil {
		return nil, err
	}
	s.tokens = newServiceTokens(opts.StateDir, s.clock, s.writeFile)
	applyTokens, err := s.tokens.sync(cfg)
	if err != nil {
		return nil, err
	}
	applyTokens()
	wgKey, err := wireGuardKey(opts.StateDir)
	if err != nil {
		return nil, err
	}
	s.reg, err = registry.Open(registry.Options{
		Path:     filepath.Join(opts.StateDir, dbFile),
		Clock:    s.clock,
		Logger:   s.log.Named("registry"),
		Pool:     cfg.sim.Network.AddressPool,
		Reserved: []netip.Addr{cfg.sim.Network.Resolver},
	})
	if err != nil {
		return nil, err
	}

	// Listen on every TCP port before serving anything, so that a busy
	// port fails the start cleanly.
	listeners := map[string]net.Listener{}
	defer func() {
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
		}
	}()
	for _, l := range []struct {
		name, flag string
		addr       netip.AddrPort
	}{
		{"api", "--api", cfg.sim.Listen.API},
		{"team domain", "--team-domain", cfg.sim.Listen.TeamDomain},
		{"idp", "--idp", cfg.sim.Listen.IdP},
	} {
		ln, err := net.Listen("tcp", l.addr.String())
		if err != nil {
			return nil, fmt.Errorf("listen for the %s on %v: %w (another edged may be running; stop it or pass %s with a free address)", l.name, l.addr, err, l.flag)
		}
		listeners[l.name] = ln
	}
	s.apiAddr = addrPortOf(listeners["api"])
	s.teamAddr = addrPortOf(listeners["team domain"])
	s.idpAddr = addrPortOf(listeners["idp"])
	s.fileListen = cfg.sim.Listen
	// Ports picked by the system (tests) become the configuration's, so
	// that the URLs the edge hands out point at them.
	cfg.sim.Listen.API, cfg.sim.Listen.TeamDomain, cfg.sim.Listen.IdP = s.apiAddr, s.teamAddr, s.idpAddr

	if err := s.startIdP(cfg); err != nil {
		return nil, err
	}
	if err := s.startTeamDomain(cfg); err != nil {
		return nil, err
	}
	if err := s.startWireGuard(cfg, wgKey); err != nil {
		return nil, err
	}
	restored, err := s.peers.restore(ctx, s.reg)
	if err != nil {
		return nil, fmt.Errorf("restore the WireGuard peers of registered devices: %w", err)
	}

	api := http.NewServeMux()
	api.Handle("/v1/", controlapi.New(controlapi.Options{
		Registry:      s.reg,
		Enroller:      s.team,
		Devices:       s.team,
		ServiceTokens: serviceTokenEnroller{s},
		Peers:         s.peers,
		Settings:      func() controlapi.Settings { return s.cfg.Load().settings(s.wg) },
		MayEnroll:     s.mayEnrollAPI,
		AllowedToLeave: func(d registry.Device) (bool, string) {
			p := s.cfg.Load().profileFor(d)
			return p.AllowedToLeave, p.Name
		},
		Decisions: s.gateway.decisions(),
		Clock:     s.clock,
		Logger:    s.log.Named("controlapi"),
	}))
	api.Handle("/admin/v1/", admin.New(admin.Options{
		Registry: s.reg,
		Token:    s.adminToken,
		Clock:    s.clock,
		Peers:    s.peers,
		Reload:   s.Reload,
		// Saved before the clock moves: an advance a full disk cannot
		// keep is refused rather than undone by the next restart.
		SaveOffset: func(d time.Duration) error {
			s.clockSave.Lock()
			defer s.clockSave.Unlock()
			return saveClockOffset(s.writeFile, opts.StateDir, d)
		},
		OnClockAdvanced: func() { s.notifyClockChanged(s.baseCtx) },
		Logger:          s.log.Named("admin"),
	}))
	s.serve(listeners["api"], api)
	s.serve(listeners["team domain"], s.team.Handler())
	s.serve(listeners["idp"], s.idp.Handler())
	listeners = nil // owned by the servers now

	s.log.Info("edge simulator started",
		zap.String("team", cfg.sim.Team),
		zap.String("api", "http://"+s.apiAddr.String()),
		zap.String("team_domain", cfg.sim.TeamDomainURL()),
		zap.String("idp", cfg.sim.IdPURL()),
		zap.Stringer("wireguard", s.wg.Addr()),
		zap.Int("devices_restored", restored))
	return s, nil
}

func addrPortOf(l net.Listener) netip.AddrPort {
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// serve runs an HTTP server on l until Close, bounded by Options.HTTP.
// No WriteTimeout: the event stream is long-lived and sets its own
// per-write deadlines.
func (s *Simulator) serve(l net.Listener, h http.Handler) {
	lim := s.opts.HTTP.withDefaults()
	ll := limits.NewListener(l, lim.MaxConns)
	s.listeners = append(s.listeners, ll)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ConnState:         ll.ConnState,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
	}
	s.servers = append(s.servers, srv)
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := srv.Serve(ll); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP server stopped", zap.Stringer("addr", l.Addr()), zap.Error(err))
		}
	}()
}

func (s *Simulator) startIdP(cfg *config) error {
	p, err := idp.New(idp.Options{
		Issuer: cfg.sim.IdPURL(),
		Users:  idpUsers(cfg),
		Clients: []idp.Client{{
			ID:           cfg.clientID(),
			Secret:       cfg.sim.IdP.Provider.Config.ClientSecret,
			RedirectURIs: []string{cfg.sim.TeamDomainURL() + callbackPath},
		}},
		Clock:      s.clock,
		Logger:     s.log.Named("idp"),
		Audit:      s.auditIdP,
		BcryptCost: s.opts.BcryptCost,
	})
	if err != nil {
		return fmt.Errorf("start the built-in IdP: %w", err)
	}
	s.idp = p
	return nil
}

func idpUsers(cfg *config) []idp.User {
	users := make([]idp.User, 0, len(cfg.sim.IdP.Users))
	for _, u := range cfg.sim.IdP.Users {
		users = append(users, idp.User{Email: u.Email, Name: u.Name, Password: u.Password, Groups: u.Groups})
	}
	return users
}

// auditIdP records every authorize request (with its prompt) and login
// (with its auth_time) in the audit log.
func (s *Simulator) auditIdP(ev idp.AuditEvent) {
	detail := map[string]any{
		"client_id":      ev.ClientID,
		"prompt":         ev.Prompt,
		"session_reused": ev.SessionReused,
		"result":         ev.Result,
	}
	if !ev.AuthTime.IsZero() {
		detail["auth_time"] = ev.AuthTime
	}
	if ev.Client != "" {
		detail["client"] = ev.Client
	}
	if !ev.LockedUntil.IsZero() {
		detail["locked_until"] = ev.LockedUntil
	}
	if _, err := s.reg.Audit(context.Background(), "idp_"+ev.Type, ev.User, "", detail); err != nil {
		s.log.Error("writing the audit log", zap.Error(err))
	}
}

func (s *Simulator) startWireGuard(cfg *config, key wgkey.Private) error {
	network, err := cfg.network()
	if err != nil {
		return err
	}
	if s.gateway, err = newGatewayHooks(s, cfg); err != nil {
		return err
	}
	srv, err := wg.New(wg.Config{
		ListenAddr: cfg.sim.Listen.WireGuard,
		PrivateKey: key,
		Network:    network,
		FlowHook:   s.gateway.flowHook(),
		DNSHook:    s.gateway.dnsHook(),
		Logger:     s.log.Named("wireguard"),
	})
	if err != nil {
		return fmt.Errorf("start WireGuard on %v: %w (pass --wireguard with a free UDP address if the port is taken)", cfg.sim.Listen.WireGuard, err)
	}
	s.wg = srv
	s.peers = newPeers(srv, s.reg, func(id string) { s.gateway.ids.forget(id) })
	return nil
}

// Clock returns the simulated time.
func (s *Simulator) Clock() *clock.Offset { return s.clock }

// Registry returns the device registry.
func (s *Simulator) Registry() *registry.Registry { return s.reg }

// APIURL returns the control and admin API's base URL.
func (s *Simulator) APIURL() string { return "http://" + s.apiAddr.String() }

// TeamDomainURL returns the team domain's origin as browsers reach it.
func (s *Simulator) TeamDomainURL() string { return s.cfg.Load().sim.TeamDomainURL() }

// IdPURL returns the IdP's origin as browsers reach it.
func (s *Simulator) IdPURL() string { return s.cfg.Load().sim.IdPURL() }

// Team returns the team's name.
func (s *Simulator) Team() string { return s.cfg.Load().sim.Team }

// LoopbackAddrs maps the browser-facing host:port of the team domain and
// the IdP to their listeners, for clients that cannot resolve *.localhost.
func (s *Simulator) LoopbackAddrs() map[string]string {
	return s.cfg.Load().loopbackAddrs()
}

// WireGuardAddr returns the WireGuard UDP address.
func (s *Simulator) WireGuardAddr() netip.AddrPort { return s.wg.Addr() }

// AdminToken returns the admin API's bearer token and the file it is in.
func (s *Simulator) AdminToken() (secret.Value, string) { return s.adminToken, s.adminTokenPath }

// Close stops every listener and closes the state. It waits for the
// servers' goroutines; open event streams end when the registry closes.
func (s *Simulator) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		// One second of grace: event streams end with baseCtx, ordinary
		// requests are quick, and a browser's pre-opened connections
		// (which Shutdown counts as busy for 5 s) must not hold up the
		// stop (REL5).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		// End the event streams, let the other requests finish, then stop
		// WireGuard (no new decisions) and the Gateway (it delivers its
		// queued audit records and signals), and close the registry last.
		s.cancelBase()
		for _, srv := range s.servers {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, srv.Close())
			}
		}
		s.serving.Wait()
		if s.wg != nil {
			errs = append(errs, s.wg.Close())
		}
		errs = append(errs, s.gateway.close())
		if s.reg != nil {
			errs = append(errs, s.reg.Close())
		}
		if s.team != nil {
			errs = append(errs, s.team.Close())
		}
		if s.idp != nil {
			errs = append(errs, s.idp.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
