package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait in these tests; nothing should come close.
const waitTimeout = 20 * time.Second

var (
	t0        = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	wikiIP    = netip.MustParseAddr("10.0.0.10")
	gitIP     = netip.MustParseAddr("10.0.0.20")
	deviceSrc = netip.MustParseAddrPort("100.96.0.2:40000")
	teamAddr  = netip.MustParseAddrPort("100.96.0.1:8781")

	wikiList = policy.Lists{"wiki-ips": {ID: "wiki-ips", Name: "Company wiki IPs", Type: policy.ListIP, Items: []string{"10.0.0.10"}}}

	// wikiRule is the seed page's wiki policy with a short duration.
	wikiRule = policy.Rule{
		ID: "wiki", Name: "Company Wiki Network policy", Precedence: 103, Enabled: true,
		Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterL4},
		Traffic:  "net.dst.ip in $wiki-ips",
		Identity: `identity.email matches ".*@example.com"`,
		Session:  &policy.CheckSession{Enforce: true, Duration: 90 * time.Minute},
	}
	gitRule = policy.Rule{
		ID: "git", Name: "Git over HTTP", Precedence: 200, Enabled: true,
		Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterHTTP},
		Traffic:  `http.request.host == "git.acme.internal"`,
		Identity: `any(identity.groups.name[*] in {"engineering"})`,
		Session:  &policy.CheckSession{Enforce: true, Duration: time.Hour},
	}
	trackerRule = policy.Rule{
		ID: "tracker", Name: "Block tracker", Precedence: 10, Enabled: true,
		Action: policy.ActionBlock, Filters: []policy.Filter{policy.FilterDNS},
		Traffic: `any(dns.domains[*] == "tracker.example.net")`,
	}
	// openRule allows anything on port 7 with no session limit (S4).
	openRule = policy.Rule{
		ID: "open", Name: "Echo without a limit", Precedence: 50, Enabled: true,
		Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterL4},
		Traffic: "net.dst.port == 7",
	}
)

// devices is an in-memory registry: alice and bob, both logged in at t0.
type devices struct {
	mu  sync.Mutex
	ids map[string]Identity
}

func newDevices() *devices {
	return &devices{ids: map[string]Identity{
		"dev-alice": {Email: "alice@example.com", Name: "Alice Example", Groups: []string{"engineering"}, AuthTime: t0},
		"dev-bob":   {Email: "bob@example.com", Name: "Bob Example", Groups: []string{"finance"}, AuthTime: t0},
	}}
}

func (d *devices) DeviceIdentity(_ context.Context, id string) (Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ident, ok := d.ids[id]
	if !ok {
		return Identity{}, fmt.Errorf("no device with ID %s", id)
	}
	return ident, nil
}

// reauth sets a device's auth_time, as an IdP login does (S2).
func (d *devices) reauth(id string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ident := d.ids[id]
	ident.AuthTime = at
	d.ids[id] = ident
}

// set replaces a device's identity, as a login as someone else would.
func (d *devices) set(id string, ident Identity) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids[id] = ident
}

func (d *devices) revoke(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ids, id)
}

// sink records what the Gateway delivers.
type sink struct {
	mu        sync.Mutex
	decisions []Decision
	signals   []SessionExpired
	changed   chan struct{}
	failNext  int // signals to refuse before accepting
}

func newSink() *sink { return &sink{changed: make(chan struct{})} }

func (s *sink) audit(_ context.Context, d Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decisions = append(s.decisions, d)
	s.notifyLocked()
	return nil
}

func (s *sink) signal(_ context.Context, e SessionExpired) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		s.notifyLocked()
		return fmt.Errorf("registry unavailable")
	}
	s.signals = append(s.signals, e)
	s.notifyLocked()
	return nil
}

func (s *sink) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until cond holds for the recorded decisions and signals.
func (s *sink) waitFor(t testing.TB, what string, cond func(ds []Decision, ss []SessionExpired) bool) {
	t.Helper()
	ctx := t.Context()
	for {
		s.mu.Lock()
		ok := cond(s.decisions, s.signals)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("waited for %s; decisions %+v, signals %+v", what, s.decisions, s.signals)
		}
	}
}

func (s *sink) snapshot() ([]Decision, []SessionExpired) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Decision(nil), s.decisions...), append([]SessionExpired(nil), s.signals...)
}

// fixture is a Gateway with a fake clock, fake devices and a sink.
type fixture struct {
	g     *Gateway
	clock *clock.Fake
	devs  *devices
	sink  *sink
}

func newFixture(t testing.TB, p Policies, tweak ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(t0), devs: newDevices(), sink: newSink()}
	opts := Options{
		Policies: p,
		Network: wg.Network{Services: []wg.Service{
			{Names: []string{"acme.localhost"}, Address: teamAddr, Target: "127.0.0.1:8781"},
		}, Records: []wg.Record{
			{Name: "wiki.acme.internal", Addresses: []netip.Addr{wikiIP}},
			{Name: "git.acme.internal", Addresses: []netip.Addr{gitIP}},
		}},
		Devices:            f.devs,
		Clock:              f.clock,
		Signal:             f.sink.signal,
		Audit:              f.sink.audit,
		RefreshIdentityURL: "http://acme.localhost:8781/cdn-cgi/access/refresh-identity",
		Logger:             zaptest.NewLogger(t),
	}
	for _, fn := range tweak {
		fn(&opts)
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	f.g = g
	return f
}

func policies(rules ...policy.Rule) Policies { return Policies{Rules: rules, Lists: wikiList} }

var nextFlowID atomic.Uint64

func tcpFlow(device string, dst netip.AddrPort) wg.Flow {
	return wg.Flow{ID: nextFlowID.Add(1), Protocol: wg.TCP, Src: deviceSrc, Dst: dst, DeviceID: device, Upstream: "127.0.0.1:1"}
}
