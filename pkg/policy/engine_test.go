package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	authTime = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	// seedRule is the seed page's wiki policy, as tfconfig hands it over.
	seedRule = Rule{
		ID: "wiki", Name: "Company Wiki Network policy", Precedence: 103, Enabled: true,
		Action: ActionAllow, Filters: []Filter{FilterL4},
		Traffic:  "net.dst.ip in $11111111-wiki",
		Identity: `identity.email matches ".*@example.com"`,
		Session:  &CheckSession{Enforce: true, Duration: 90 * time.Minute},
	}
)

func engine(t testing.TB, rules ...Rule) *Engine {
	t.Helper()
	e, err := NewEngine(rules, testLists)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func wikiFlow(age time.Duration, email string) *Flow {
	return &Flow{Filter: FilterL4, DstIP: netip.MustParseAddr("10.0.0.10"), DstPort: 443, Protocol: "tcp",
		Email: email, AuthTime: authTime, Now: authTime.Add(age)}
}

func TestS3_CheckSessionBlocksNewFlowsOnceExpired(t *testing.T) {
	e := engine(t, seedRule)
	d := e.Decide(wikiFlow(89*time.Minute, "alice@example.com"))
	if d.Action != ActionAllow || d.Reason != ReasonAllowed || d.Rule.ID != "wiki" {
		t.Fatalf("inside the duration: %+v", d)
	}
	d = e.Decide(wikiFlow(90*time.Minute, "alice@example.com"))
	if d.Reason != ReasonAllowed {
		t.Fatalf("exactly at the duration: %+v", d)
	}
	d = e.Decide(wikiFlow(90*time.Minute+time.Second, "alice@example.com"))
	if d.Action != ActionBlock || d.Reason != ReasonSessionExpired || d.Rule.ID != "wiki" {
		t.Fatalf("past the duration: %+v", d)
	}
	// Outside the policy the session does not matter: users "can continue to
	// reach applications outside of the policy definition".
	other := wikiFlow(10*time.Hour, "alice@example.com")
	other.DstIP = netip.MustParseAddr("192.0.2.1")
	if d := e.Decide(other); d.Reason != ReasonNoMatch || d.Action != ActionAllow {
		t.Fatalf("outside the policy: %+v", d)
	}
	// Nor for a user the identity expression does not cover.
	if d := e.Decide(wikiFlow(10*time.Hour, "mallory@contractor.test")); d.Reason != ReasonNoMatch {
		t.Fatalf("mallory: %+v", d)
	}
}

func TestS3_HTTPEachRequestIsChecked(t *testing.T) {
	e := engine(t, Rule{ID: "h", Name: "http 1h", Enabled: true, Action: ActionAllow, Filters: []Filter{FilterHTTP},
		Traffic: `http.request.host == "wiki.acme.internal"`, Session: &CheckSession{Enforce: true, Duration: time.Hour}})
	f := &Flow{Filter: FilterHTTP, Host: "wiki.acme.internal", AuthTime: authTime, Now: authTime.Add(59 * time.Minute)}
	if d := e.Decide(f); d.Reason != ReasonAllowed {
		t.Fatalf("%+v", d)
	}
	f.Now = authTime.Add(61 * time.Minute)
	if d := e.Decide(f); d.Reason != ReasonSessionExpired {
		t.Fatalf("%+v", d)
	}
}

// A device that never signed in (a service token's: zero auth_time) is
// blocked by a policy that checks the session, with its own reason, and
// explained as such; DNS and unlimited policies still answer it.
func TestS3_NoIdPSessionBlocks(t *testing.T) {
	e := engine(t, Rule{ID: "h", Name: "http 1h", Enabled: true, Action: ActionAllow, Filters: []Filter{FilterHTTP},
		Traffic: `http.request.host == "wiki.acme.internal"`, Session: &CheckSession{Enforce: true, Duration: time.Hour}},
		Rule{ID: "open", Name: "open", Enabled: true, Action: ActionAllow, Filters: []Filter{FilterHTTP}, Precedence: 2,
			Traffic: `http.request.host == "docs.acme.internal"`})
	f := &Flow{Filter: FilterHTTP, Host: "wiki.acme.internal", Now: authTime}
	if d := e.Decide(f); d.Action != ActionBlock || d.Reason != ReasonNoIdPSession {
		t.Fatalf("%+v", d)
	}
	if _, tr := e.Explain(f); len(tr) == 0 || !strings.Contains(tr[0].Session, "never signed in") {
		t.Fatalf("trace %+v", tr)
	}
	f.Host = "docs.acme.internal"
	if d := e.Decide(f); d.Reason != ReasonAllowed {
		t.Fatalf("unlimited policy: %+v", d)
	}
}

func TestS4_NoCheckSessionOrNotEnforcedMeansNoLimit(t *testing.T) {
	for _, s := range []*CheckSession{nil, {Enforce: false, Duration: time.Minute}} {
		r := seedRule
		r.Session = s
		d := engine(t, r).Decide(wikiFlow(1000*time.Hour, "alice@example.com"))
		if d.Reason != ReasonAllowed {
			t.Fatalf("session %+v: %+v", s, d)
		}
	}
}

func TestS6_DNSNeverLooksAtTheSession(t *testing.T) {
	// Even if a DNS allow policy somehow carried a check_session (tfconfig
	// rejects it, S5), DNS resolves while re-authentication is pending.
	e := engine(t,
		Rule{ID: "d", Name: "allow wiki dns", Enabled: true, Action: ActionAllow, Filters: []Filter{FilterDNS},
			Traffic: `any(dns.domains[*] == "acme.internal")`, Session: &CheckSession{Enforce: true, Duration: time.Minute}},
		seedRule)
	f := &Flow{Filter: FilterDNS, FQDN: "wiki.acme.internal", AuthTime: authTime, Now: authTime.Add(48 * time.Hour)}
	d := e.Decide(f)
	if d.Action != ActionAllow || d.Reason != ReasonAllowed {
		t.Fatalf("DNS during expiry: %+v", d)
	}
	_, trace := e.Explain(f)
	if len(trace) != 1 || !strings.Contains(trace[0].Session, "never look at the session") {
		t.Fatalf("trace %+v", trace)
	}
	// The same moment, an L4 flow to the wiki is blocked.
	if d := e.Decide(wikiFlow(48*time.Hour, "alice@example.com")); d.Reason != ReasonSessionExpired {
		t.Fatalf("L4 at the same age: %+v", d)
	}
}

func TestPrecedenceDisabledAndNonDecidingActions(t *testing.T) {
	block := Rule{ID: "b", Name: "block wiki for finance", Precedence: 50, Enabled: true, Action: ActionBlock,
		Filters: []Filter{FilterL4}, Traffic: "net.dst.ip in $11111111-wiki", Identity: `any(identity.groups.name[*] == "finance")`}
	disabled := Rule{ID: "x", Name: "disabled block all", Precedence: 1, Enabled: false, Action: ActionBlock, Filters: []Filter{FilterL4}}
	audit := Rule{ID: "a", Name: "audit ssh", Precedence: 10, Enabled: true, Action: "audit_ssh", Filters: []Filter{FilterL4}}
	e := engine(t, seedRule, block, disabled, audit)

	bob := wikiFlow(time.Minute, "bob@example.com")
	bob.Groups = []string{"finance"}
	d, trace := e.Explain(bob)
	if d.Reason != ReasonBlocked || d.Rule.ID != "b" {
		t.Fatalf("bob: %+v", d)
	}
	var outcomes []string
	for _, s := range trace {
		outcomes = append(outcomes, s.RuleID+":"+s.Outcome)
	}
	if got := strings.Join(outcomes, " "); got != "x:disabled a:passed_over b:blocked" {
		t.Fatalf("trace %s", got)
	}
	if e.Decide(bob) != d {
		t.Fatal("Decide and Explain disagree")
	}

	alice := wikiFlow(time.Minute, "alice@example.com")
	alice.Groups = []string{"engineering"}
	d, trace = e.Explain(alice)
	if d.Reason != ReasonAllowed || d.Rule.ID != "wiki" || len(trace) != 4 {
		t.Fatalf("alice: %+v %+v", d, trace)
	}
	if trace[2].Outcome != "traffic_matched_identity_not" || !strings.HasPrefix(trace[3].Session, "ok: session age 1m0s") {
		t.Fatalf("alice trace %+v", trace)
	}
	if rs := e.Rules(FilterL4); len(rs) != 4 || rs[0].ID != "x" || rs[3].ID != "wiki" {
		t.Fatalf("Rules order %v", rs)
	}
}

// TestDoNotInspectComesFirst follows Gateway's order of enforcement: an HTTP
// Do Not Inspect policy is evaluated before all other HTTP policies, and a
// match exempts the request from them, session check included.
func TestDoNotInspectComesFirst(t *testing.T) {
	block := Rule{ID: "b", Name: "block banks", Precedence: 1, Enabled: true, Action: ActionBlock,
		Filters: []Filter{FilterHTTP}, Traffic: `any(http.request.domains[*] == "bank.example")`}
	expiring := Rule{ID: "s", Name: "1h session", Precedence: 2, Enabled: true, Action: ActionAllow,
		Filters: []Filter{FilterHTTP}, Session: &CheckSession{Enforce: true, Duration: time.Hour}}
	dni := Rule{ID: "d", Name: "do not inspect bank", Precedence: 500, Enabled: true, Action: ActionOff,
		Filters: []Filter{FilterHTTP}, Traffic: `http.request.host == "bank.example"`}
	e := engine(t, block, expiring, dni)
	f := &Flow{Filter: FilterHTTP, Host: "bank.example", AuthTime: authTime, Now: authTime.Add(5 * time.Hour)}
	d, trace := e.Explain(f)
	if d.Action != ActionAllow || d.Rule.ID != "d" || len(trace) != 1 || trace[0].Outcome != "do_not_inspect" {
		t.Fatalf("bank: %+v %+v", d, trace)
	}
	if e.Decide(f) != d {
		t.Fatal("Decide and Explain disagree")
	}
	f.Host = "www.bank.example"
	if d := e.Decide(f); d.Reason != ReasonBlocked {
		t.Fatalf("subdomain outside the DNI policy: %+v", d)
	}
	f.Host = "news.example"
	if d := e.Decide(f); d.Reason != ReasonSessionExpired {
		t.Fatalf("other host: %+v", d)
	}
}

func TestGroupsChangeTheDecision(t *testing.T) {
	r := seedRule
	r.Identity = `any(identity.groups.name[*] in {"engineering" "sre"})`
	e := engine(t, r)
	f := wikiFlow(time.Minute, "bob@example.com")
	f.Groups = []string{"finance"}
	if d := e.Decide(f); d.Reason != ReasonNoMatch {
		t.Fatalf("finance: %+v", d)
	}
	f.Groups = []string{"finance", "SRE"} // after refresh-identity reloaded groups (S12)
	if d := e.Decide(f); d.Reason != ReasonAllowed {
		t.Fatalf("sre: %+v", d)
	}
}

func TestNewEngineReportsEveryBadRule(t *testing.T) {
	_, err := NewEngine([]Rule{
		{ID: "1", Name: "one", Filters: []Filter{FilterL4}, Traffic: "net.dst.ip in $missing"},
		{ID: "2", Name: "two", Filters: []Filter{FilterDNS}, Identity: `identity.mail == "x"`},
		seedRule,
	}, testLists)
	var re *RuleError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{`policy "one" traffic expression 1:15: unknown list $missing`, `policy "two" identity expression 1:1: unknown field identity.mail`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

// rulesOfSize builds n policies where only the last matches the benchmark
// flow, the worst case for first-match evaluation.
func rulesOfSize(n int) []Rule {
	rules := make([]Rule, 0, n)
	for i := 0; i < n-1; i++ {
		rules = append(rules, Rule{
			ID: fmt.Sprint(i), Name: fmt.Sprint("p", i), Precedence: i, Enabled: true, Action: ActionAllow,
			Filters:  []Filter{FilterL4},
			Traffic:  fmt.Sprintf("net.dst.ip in {10.%d.0.0/16} and net.dst.port in {22 443}", i%250+1),
			Identity: `any(identity.groups.name[*] in {"engineering" "sre"})`,
			Session:  &CheckSession{Enforce: true, Duration: time.Hour},
		})
	}
	last := seedRule
	last.Precedence = n
	last.Identity = `identity.email == "alice@example.com"`
	return append(rules, last)
}

// sniRulesOfSize is like rulesOfSize with policies that test the SNI host
// first, so that no destination guard can skip them.
func sniRulesOfSize(n int) []Rule {
	rules := rulesOfSize(n)
	for i := range rules[:n-1] {
		rules[i].Traffic = fmt.Sprintf(`net.sni.host == "app%d.acme.internal" and net.dst.port in {22 443}`, i)
	}
	return rules
}

func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) { benchDecide(b, rulesOfSize(n)) })
	}
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("unguarded/policies=%d", n), func(b *testing.B) { benchDecide(b, sniRulesOfSize(n)) })
	}
}

func benchDecide(b *testing.B, rules []Rule) {
	e := engine(b, rules...)
	f := wikiFlow(time.Minute, "alice@example.com")
	f.DstIP = netip.MustParseAddr("10.0.1.5") // in the wiki list, in no 10.x/16 of the others
	f.Groups = []string{"finance"}
	if d := e.Decide(f); d.Rule == nil || d.Rule.ID != "wiki" {
		b.Fatalf("benchmark flow decided %+v", d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Decide(f)
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	e := engine(t, rulesOfSize(100)...)
	f := wikiFlow(time.Minute, "alice@example.com")
	f.DstIP = netip.MustParseAddr("10.0.1.5")
	f.Groups = []string{"finance"}
	if n := testing.AllocsPerRun(100, func() { e.Decide(f) }); n != 0 {
		t.Fatalf("Decide allocates %.0f times per call", n)
	}
}

// The trace names the fields a policy uses that the simulator does not
// evaluate, so that `agentctl why` can say why it did not match.
func TestExplainNamesUnsimulatedFields(t *testing.T) {
	e := engine(t,
		Rule{ID: "cat", Name: "Categories", Precedence: 1, Enabled: true, Action: ActionBlock, Filters: []Filter{FilterHTTP},
			Traffic: `any(app.type.ids[*] in {25}) or http.download.mime == "application/pdf" or any(app.type.ids[*] in {26})`},
		Rule{ID: "host", Name: "Host", Precedence: 2, Enabled: true, Action: ActionAllow, Filters: []Filter{FilterHTTP}, Traffic: `http.request.host == "wiki.acme.internal"`},
	)
	d, trace := e.Explain(&Flow{Filter: FilterHTTP, Host: "wiki.acme.internal"})
	if d.Rule == nil || d.Rule.ID != "host" || len(trace) != 2 {
		t.Fatalf("decision %+v, trace %+v", d, trace)
	}
	if got := trace[0].Unsimulated; !slices.Equal(got, []string{"app.type.ids", "http.download.mime"}) || trace[0].Outcome != "not_matched" {
		t.Errorf("step for the category policy: %+v", trace[0])
	}
	if trace[1].Unsimulated != nil {
		t.Errorf("step for the host policy names unsimulated fields: %+v", trace[1])
	}
}
