package gateway

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

var wikiSSH = netip.AddrPortFrom(wikiIP, 22)

func TestS3_L4AllowedThenBlockedAfterExpiry(t *testing.T) {
	f := newFixture(t, policies(wikiRule))
	ctx := t.Context()
	if v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH)); v.Action != wg.Forward {
		t.Fatalf("fresh session: %+v; want forward", v)
	}
	f.clock.Advance(90 * time.Minute) // exactly the duration still passes
	if v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH)); v.Action != wg.Forward {
		t.Fatalf("age = duration: %+v; want forward", v)
	}
	f.clock.Advance(time.Second)
	v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
	if v.Action != wg.Refuse || v.Reason != string(policy.ReasonSessionExpired) {
		t.Fatalf("expired session: %+v; want refuse for session_expired", v)
	}
	// Outside the policy the session does not matter.
	if v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", netip.MustParseAddrPort("10.0.0.30:22"))); v.Action != wg.Forward {
		t.Fatalf("outside the policy: %+v", v)
	}
	f.sink.waitFor(t, "one signal", func(_ []Decision, ss []SessionExpired) bool { return len(ss) == 1 })
	_, ss := f.sink.snapshot()
	want := SessionExpired{DeviceID: "dev-alice", AuthTime: t0, PolicyID: "wiki", PolicyName: wikiRule.Name, Filter: policy.FilterL4}
	if ss[0] != want {
		t.Fatalf("signal %+v; want %+v", ss[0], want)
	}
}

func TestS3_UDPFlowsAreCheckedToo(t *testing.T) {
	f := newFixture(t, policies(wikiRule))
	fl := tcpFlow("dev-alice", netip.AddrPortFrom(wikiIP, 53))
	fl.Protocol = wg.UDP
	f.clock.Advance(2 * time.Hour)
	if v := f.g.DecideFlow(t.Context(), fl); v.Action != wg.Refuse {
		t.Fatalf("%+v; want refuse", v)
	}
}

func TestS4_NoCheckSessionMeansNoLimit(t *testing.T) {
	notEnforced := wikiRule
	notEnforced.Session = &policy.CheckSession{Enforce: false, Duration: time.Minute}
	for name, p := range map[string]Policies{
		"no check_session":  policies(openRule),
		"enforce = false":   policies(notEnforced),
		"no policy matches": policies(),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, p)
			f.clock.Advance(1000 * time.Hour)
			dst := netip.AddrPortFrom(wikiIP, 7)
			if v := f.g.DecideFlow(t.Context(), tcpFlow("dev-alice", dst)); v.Action != wg.Forward {
				t.Fatalf("%+v; want forward", v)
			}
			if s, err := f.g.Session(t.Context(), "dev-alice"); err != nil || len(s.Gateway) != 0 {
				t.Fatalf("Session = %+v, %v; want no limits", s, err)
			}
		})
	}
}

func TestS6_DNSResolvesDuringExpiry(t *testing.T) {
	f := newFixture(t, policies(wikiRule, trackerRule))
	f.clock.Advance(10 * time.Hour)
	ctx := t.Context()
	q := wg.DNSQuery{Src: deviceSrc, DeviceID: "dev-alice", Name: "wiki.acme.internal", Type: 1}
	if d := f.g.DecideDNS(ctx, q); d.Action != wg.Resolve {
		t.Fatalf("wiki during expiry: %+v; want resolve", d)
	}
	q.Name = "ads.tracker.example.net"
	if d := f.g.DecideDNS(ctx, q); d.Action != wg.Block || d.Reason != string(policy.ReasonBlocked) {
		t.Fatalf("tracker: %+v; want block", d)
	}
	f.sink.waitFor(t, "two DNS decisions", func(ds []Decision, _ []SessionExpired) bool { return len(ds) == 2 })
	ds, ss := f.sink.snapshot()
	if len(ss) != 0 {
		t.Fatalf("DNS signalled %+v; DNS never looks at the session", ss)
	}
	if ds[1].Filter != policy.FilterDNS || ds[1].Query != "ads.tracker.example.net" || ds[1].PolicyID != "tracker" || !ds[1].Blocked() {
		t.Fatalf("audit of the blocked query: %+v", ds[1])
	}
}

func TestOneSignalPerDevicePolicyAndAuthTime(t *testing.T) {
	f := newFixture(t, policies(wikiRule))
	f.clock.Advance(2 * time.Hour)
	ctx := t.Context()
	var wg0 sync.WaitGroup
	for range 100 {
		wg0.Add(1)
		go func() {
			defer wg0.Done()
			if v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH)); v.Action != wg.Refuse {
				t.Errorf("%+v; want refuse", v)
			}
		}()
	}
	wg0.Wait()
	f.sink.waitFor(t, "100 audited refusals", func(ds []Decision, _ []SessionExpired) bool { return len(ds) == 100 })
	if _, ss := f.sink.snapshot(); len(ss) != 1 {
		t.Fatalf("%d signals for a burst of 100 blocked flows; want 1", len(ss))
	}
	// Bob is another device: his own signal.
	f.devs.reauth("dev-bob", t0)
	f.g.DecideFlow(ctx, tcpFlow("dev-bob", wikiSSH))
	f.sink.waitFor(t, "bob's signal", func(_ []Decision, ss []SessionExpired) bool { return len(ss) == 2 })

	// Alice re-authenticates: access returns, and her next expiry signals
	// again.
	f.devs.reauth("dev-alice", f.clock.Now())
	if v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH)); v.Action != wg.Forward {
		t.Fatalf("after re-authentication: %+v; want forward", v)
	}
	f.clock.Advance(91 * time.Minute)
	f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
	f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
	f.sink.waitFor(t, "a second signal for alice", func(_ []Decision, ss []SessionExpired) bool { return len(ss) == 3 })
	f.g.Close() // drains the queue
	_, ss := f.sink.snapshot()
	if len(ss) != 3 || ss[2].DeviceID != "dev-alice" || !ss[2].AuthTime.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("signals %+v", ss)
	}
}

func TestSignalNotStoredIsSentAgain(t *testing.T) {
	f := newFixture(t, policies(wikiRule))
	f.sink.failNext = 1
	f.clock.Advance(2 * time.Hour)
	ctx := t.Context()
	f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
	// Deliveries are ordered: once a later decision is audited, the failed
	// signal has been re-armed.
	f.g.DecideFlow(ctx, tcpFlow("dev-alice", netip.MustParseAddrPort("192.0.2.1:22")))
	f.sink.waitFor(t, "the later decision", func(ds []Decision, _ []SessionExpired) bool { return len(ds) == 2 })
	if _, ss := f.sink.snapshot(); len(ss) != 0 {
		t.Fatalf("signals %+v; the first one should have failed", ss)
	}
	f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
	f.sink.waitFor(t, "the signal, sent again", func(_ []Decision, ss []SessionExpired) bool { return len(ss) == 1 })
}

func TestUnknownDeviceIsRefused(t *testing.T) {
	f := newFixture(t, policies(openRule))
	ctx := t.Context()
	f.devs.revoke("dev-bob")
	if v := f.g.DecideFlow(ctx, tcpFlow("dev-bob", netip.AddrPortFrom(wikiIP, 7))); v.Action != wg.Refuse || v.Reason != ReasonUnknownDevice {
		t.Fatalf("revoked device: %+v; want refuse", v)
	}
	if d := f.g.DecideDNS(ctx, wg.DNSQuery{DeviceID: "dev-bob", Name: "wiki.acme.internal"}); d.Action != wg.Block {
		t.Fatalf("revoked device's query: %+v; want block", d)
	}
	if _, err := f.g.Explain(ctx, "dev-bob", "10.0.0.10:22", "tcp"); err == nil {
		t.Fatal("Explain for a revoked device succeeded")
	}
	f.sink.waitFor(t, "two refusals audited", func(ds []Decision, _ []SessionExpired) bool {
		return len(ds) == 2 && ds[0].Reason == ReasonUnknownDevice && ds[1].Reason == ReasonUnknownDevice
	})
}

func TestS15_EdgeServicesPass(t *testing.T) {
	block := policy.Rule{ID: "all", Name: "Block everything", Enabled: true, Action: policy.ActionBlock, Filters: []policy.Filter{policy.FilterL4}}
	f := newFixture(t, policies(block))
	ctx := t.Context()
	f.devs.revoke("dev-alice") // not even a lookup is needed
	fl := tcpFlow("dev-alice", teamAddr)
	if v := f.g.DecideFlow(ctx, fl); v.Action != wg.Forward || v.Reason != ReasonEdgeService {
		t.Fatalf("team domain: %+v; want forward", v)
	}
	fl.Service = "idp.localhost"
	fl.Dst = netip.MustParseAddrPort("100.96.0.1:8782")
	if v := f.g.DecideFlow(ctx, fl); v.Action != wg.Forward {
		t.Fatalf("IdP: %+v; want forward", v)
	}
}

func TestAuditRecordsEveryDecision(t *testing.T) {
	f := newFixture(t, policies(wikiRule))
	ctx := t.Context()
	fl := tcpFlow("dev-alice", wikiSSH)
	f.g.DecideFlow(ctx, fl)
	f.clock.Advance(2 * time.Hour)
	f.g.DecideFlow(ctx, fl)
	f.g.DecideFlow(ctx, tcpFlow("dev-alice", netip.MustParseAddrPort("192.0.2.1:443")))
	f.sink.waitFor(t, "three decisions", func(ds []Decision, _ []SessionExpired) bool { return len(ds) == 3 })
	ds, _ := f.sink.snapshot()
	want := []struct {
		action policy.Action
		reason string
		policy string
	}{
		{policy.ActionAllow, "allowed", "wiki"},
		{policy.ActionBlock, "session_expired", "wiki"},
		{policy.ActionAllow, "no_match", ""},
	}
	for i, w := range want {
		d := ds[i]
		if d.Action != w.action || d.Reason != w.reason || d.PolicyID != w.policy {
			t.Errorf("decision %d: %+v; want %v %s %q", i, d, w.action, w.reason, w.policy)
		}
		if d.DeviceID != "dev-alice" || d.User != "alice@example.com" || d.Filter != policy.FilterL4 || d.Protocol != "tcp" || d.Src != deviceSrc {
			t.Errorf("decision %d does not say who and what: %+v", i, d)
		}
	}
	if ds[1].Dst != wikiSSH || !ds[1].Time.Equal(t0.Add(2*time.Hour)) || !ds[1].AuthTime.Equal(t0) {
		t.Errorf("blocked decision: %+v", ds[1])
	}
}

// TestReloadUnderConcurrentDecisions swaps the policies while decisions
// run (run with -race): each decision sees the old or the new policies,
// never a mix, and a bad reload keeps the old ones.
func TestReloadUnderConcurrentDecisions(t *testing.T) {
	allowAll := policy.Rule{ID: "a", Name: "allow", Enabled: true, Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterL4}}
	blockAll := policy.Rule{ID: "b", Name: "block", Enabled: true, Action: policy.ActionBlock, Filters: []policy.Filter{policy.FilterL4}}
	f := newFixture(t, policies(allowAll), func(o *Options) { o.Audit = nil })
	ctx := t.Context()
	stop := make(chan struct{})
	var wg0 sync.WaitGroup
	for range 8 {
		wg0.Add(1)
		go func() {
			defer wg0.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
				if v.Reason != "allowed" && v.Reason != "blocked" {
					t.Errorf("verdict %+v", v)
					return
				}
			}
		}()
	}
	for i := range 200 {
		p := policies(allowAll)
		if i%2 == 0 {
			p = policies(blockAll)
		}
		if err := f.g.SetPolicies(p); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg0.Wait()

	if err := f.g.SetPolicies(policies(blockAll)); err != nil {
		t.Fatal(err)
	}
	bad := policy.Rule{ID: "x", Name: "broken", Enabled: true, Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterL4}, Traffic: "net.dst.nope == 1"}
	err := f.g.SetPolicies(policies(bad))
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("bad reload: %v; want an error naming the policy", err)
	}
	if v := f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH)); v.Reason != "blocked" {
		t.Fatalf("after a bad reload: %+v; want the previous policies", v)
	}
}

func TestNewRejectsBadPolicies(t *testing.T) {
	bad := policy.Rule{ID: "x", Name: "broken", Enabled: true, Action: policy.ActionAllow, Filters: []policy.Filter{policy.FilterL4}, Traffic: "net.dst.ip in $missing"}
	if _, err := New(Options{Policies: policies(bad), Devices: newDevices()}); err == nil {
		t.Fatal("New accepted a policy with an unknown list")
	}
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Devices") {
		t.Fatalf("New without devices: %v", err)
	}
}

func TestAuditQueueFullDropsRecordsNotSignals(t *testing.T) {
	block := make(chan struct{})
	var once sync.Once
	f := newFixture(t, policies(wikiRule), func(o *Options) {
		o.QueueLen = 2
		inner := o.Audit
		o.Audit = func(ctx context.Context, d Decision) error {
			once.Do(func() { <-block }) // the first delivery holds the queue
			return inner(ctx, d)
		}
	})
	ctx := t.Context()
	for range 10 {
		f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
	}
	if f.g.DroppedAudit() == 0 {
		t.Fatal("no audit record dropped with a full queue")
	}
	close(block)
	f.clock.Advance(2 * time.Hour)
	f.g.DecideFlow(ctx, tcpFlow("dev-alice", wikiSSH))
	f.sink.waitFor(t, "the signal", func(_ []Decision, ss []SessionExpired) bool { return len(ss) == 1 })
}

func ExampleGateway_Explain() {
	devs := DevicesFunc(func(context.Context, string) (Identity, error) {
		return Identity{Email: "alice@example.com", AuthTime: t0}, nil
	})
	g, _ := New(Options{Policies: policies(wikiRule), Devices: devs, Clock: clock.NewFake(t0.Add(2 * time.Hour))})
	defer g.Close()
	ex, _ := g.Explain(context.Background(), "dev-alice", "10.0.0.10:22", "tcp")
	fmt.Println(ex.Action, ex.Reason, ex.PolicyName)
	fmt.Println(ex.Stages[0].Trace[0].Session)
	// Output:
	// block session_expired Company Wiki Network policy
	// expired: session age 2h0m0s exceeds 1h30m0s
}
