package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// Policies are the Gateway policies and the lists their expressions
// reference.
type Policies struct {
	Rules []policy.Rule
	Lists policy.Lists
}

// PoliciesFrom returns the simulated Gateway policies of a loaded
// Terraform configuration.
func PoliciesFrom(cfg *tfconfig.Config) Policies {
	return Policies{Rules: cfg.Rules(), Lists: cfg.PolicyLists()}
}

// Requester is who sent an HTTP request, for a RequestHook.
type Requester struct {
	Flow     wg.Flow
	Identity Identity
}

// RequestHook sees each plain-HTTP request the Gateway allowed, before it
// is forwarded: the seam for the Access device-identity gate (issue 6,
// part 3), which is not built yet.
type RequestHook interface {
	// HookRequest returns a response to send instead of forwarding req (a
	// login redirect, a denial), or nil to forward req, which it may have
	// changed (such as adding Cf-Access-Jwt-Assertion). It runs in the
	// flow's goroutine.
	HookRequest(ctx context.Context, req *http.Request, from Requester) *http.Response
}

// Options configures New. Devices is required; the zero value of every
// other field is a documented default.
type Options struct {
	// Policies are the Gateway policies to enforce (see PoliciesFrom).
	Policies Policies
	// Network is the virtual network, for Explain to resolve names and for
	// the defensive edge-service check (S15); change it with SetNetwork.
	Network wg.Network
	// Site holds the hosts' categories and the virtual network's ID;
	// change it with SetSite.
	Site Site
	// Devices looks up each device's identity.
	Devices Devices
	// Clock is the edge's clock, read at every decision; default the real
	// clock.
	Clock clock.Clock
	// Signal is called once per device, policy and auth_time when a
	// check_session blocks (S3). An error (the event was not stored) arms
	// the signal again for the next block. Nil signals nothing.
	Signal func(ctx context.Context, s SessionExpired) error
	// Audit is called with every decision. Nil records nothing.
	Audit func(ctx context.Context, d Decision) error
	// RefreshIdentityURL is the team domain's refresh-identity URL, linked
	// from the session-expired block page.
	RefreshIdentityURL string
	// Requests, when set, sees every allowed plain-HTTP request; flows to
	// HTTPPorts are then parsed even without HTTP policies.
	Requests RequestHook
	// HTTPPorts are the TCP ports whose flows are parsed as plain HTTP
	// when HTTP policies apply; default 80.
	HTTPPorts []uint16
	// TLSPorts are the TCP ports whose flows HTTP policies see by their SNI
	// host only; default 443.
	TLSPorts []uint16
	// PeekTimeout bounds the wait for a TLS ClientHello when a decision
	// needs the SNI; default 2s.
	PeekTimeout time.Duration
	// QueueLen is the number of audit records and signals waiting for
	// delivery; default 4096.
	QueueLen int
	// DeliveryTimeout bounds each Signal and Audit call; default 5s.
	DeliveryTimeout time.Duration
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.HTTPPorts == nil {
		o.HTTPPorts = []uint16{80}
	}
	if o.TLSPorts == nil {
		o.TLSPorts = []uint16{443}
	}
	if o.PeekTimeout <= 0 {
		o.PeekTimeout = 2 * time.Second
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 4096
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = 5 * time.Second
	}
	return o
}

// Gateway decides the traffic of registered devices. It implements
// wg.FlowHook and wg.DNSHook; its methods may be called from any goroutine.
// Close stops its delivery goroutine.
type Gateway struct {
	log      *zap.Logger
	clock    clock.Clock
	devices  Devices
	requests RequestHook
	refresh  string
	http     []uint16
	tls      []uint16
	peek     time.Duration

	rules   atomic.Pointer[ruleSet]
	network atomic.Pointer[netView]
	site    atomic.Pointer[Site]
	signals signalLog
	out     *outbox

	closeOnce sync.Once
}

var (
	_ wg.FlowHook = (*Gateway)(nil)
	_ wg.DNSHook  = (*Gateway)(nil)
)

// New returns a Gateway enforcing opts.Policies. It fails, listing every
// policy that does not compile, when the policies are not valid.
func New(opts Options) (*Gateway, error) {
	opts = opts.withDefaults()
	if opts.Devices == nil {
		return nil, errors.New("gateway: Options.Devices is nil; the Gateway needs the device registry to know who sends traffic")
	}
	rs, err := compileRules(opts.Policies)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		log:      opts.Logger,
		clock:    opts.Clock,
		devices:  opts.Devices,
		requests: opts.Requests,
		refresh:  opts.RefreshIdentityURL,
		http:     slices.Clone(opts.HTTPPorts),
		tls:      slices.Clone(opts.TLSPorts),
		peek:     opts.PeekTimeout,
	}
	g.signals.init()
	g.rules.Store(rs)
	g.network.Store(newNetView(opts.Network))
	g.SetSite(opts.Site)
	g.out = newOutbox(outboxOptions{
		log:     opts.Logger,
		audit:   opts.Audit,
		signal:  opts.Signal,
		failed:  g.signals.forget,
		size:    opts.QueueLen,
		timeout: opts.DeliveryTimeout,
	})
	return g, nil
}

// SetPolicies replaces the policies (a configuration reload). Decisions
// under way finish with the old policies; later ones use the new. On error
// the old policies stay in force.
func (g *Gateway) SetPolicies(p Policies) error {
	rs, err := compileRules(p)
	if err != nil {
		return err
	}
	g.rules.Store(rs)
	g.log.Info("gateway policies loaded", zap.Int("policies", len(p.Rules)))
	return nil
}

// SetNetwork replaces the virtual network Explain resolves names in.
func (g *Gateway) SetNetwork(n wg.Network) { g.network.Store(newNetView(n)) }

// SetSite replaces the hosts' categories and the virtual network's ID.
func (g *Gateway) SetSite(s Site) {
	c := s
	c.Categories = make(map[string]Categories, len(s.Categories))
	for name, cat := range s.Categories {
		c.Categories[normalName(name)] = cat
	}
	g.site.Store(&c)
}

// DroppedAudit returns how many audit records were dropped because the
// delivery queue was full.
func (g *Gateway) DroppedAudit() uint64 { return g.out.dropped.Load() }

// Close delivers the audit records and signals already queued, then stops
// the delivery goroutine. Decisions made after Close are not delivered.
func (g *Gateway) Close() error {
	g.closeOnce.Do(g.out.close)
	return nil
}

func (g *Gateway) isHTTPPort(p uint16) bool { return slices.Contains(g.http, p) }
func (g *Gateway) isTLSPort(p uint16) bool  { return slices.Contains(g.tls, p) }

// compileErr wraps the engine's error for a person reading edged's output.
func compileErr(err error) error {
	return fmt.Errorf("gateway policies do not compile; fix them and reload:\n%w", err)
}
