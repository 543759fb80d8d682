package accessgate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const teamURL = "http://acme.localhost:8781"

func rule(kind, value string) tfconfig.AccessRule {
	return tfconfig.AccessRule{Kind: kind, Value: value}
}

func pol(name, decision string, include, require, exclude []tfconfig.AccessRule) *tfconfig.AccessPolicy {
	return &tfconfig.AccessPolicy{Resource: tfconfig.Resource{ID: "id-" + name}, Name: name, Decision: decision, Include: include, Require: require, Exclude: exclude}
}

func rules(rs ...tfconfig.AccessRule) []tfconfig.AccessRule { return rs }

var (
	aliceID = &Identity{Email: "alice@example.com", Groups: []string{"engineering"}}
	bobID   = &Identity{Email: "Bob@Example.com", Groups: []string{"finance"}}
	eveID   = &Identity{Email: "eve@contractor.test"}
)

func TestPolicyEvaluation(t *testing.T) {
	employees := pol("Employees", "allow", rules(rule("email_domain", "example.com")), nil, nil)
	engineers := pol("Engineers", "allow", rules(rule("email_domain", "@example.com")), rules(rule("group", "engineering")), nil)
	notBob := pol("Not bob", "allow", rules(rule("everyone", "")), nil, rules(rule("email", "bob@example.com")))
	blockFinance := pol("Block finance", "deny", rules(rule("azure_ad", "finance")), nil, nil)
	unsimulated := pol("Geo", "allow", rules(rule("geo", "US")), nil, nil)
	anyOf := pol("Alice or eve", "allow", rules(rule("email", "nobody@x"), rule("email", "EVE@contractor.test")), nil, nil)
	for _, tc := range []struct {
		name     string
		policies []tfconfig.AppPolicy
		id       *Identity
		allowed  bool
		policy   string
	}{
		{"email_domain allows", ap(employees), aliceID, true, "Employees"},
		{"email_domain is case-insensitive", ap(employees), bobID, true, "Employees"},
		{"other domain matches nothing", ap(employees), eveID, false, ""},
		{"require group met", ap(engineers), aliceID, true, "Engineers"},
		{"require group unmet", ap(engineers), bobID, false, ""},
		{"exclude removes bob", ap(notBob), bobID, false, ""},
		{"exclude keeps alice", ap(notBob), aliceID, true, "Not bob"},
		{"include is any of", ap(anyOf), eveID, true, "Alice or eve"},
		{"deny first by precedence", apPrec(employees, 2, blockFinance, 1), bobID, false, "Block finance"},
		{"allow first by precedence", apPrec(employees, 1, blockFinance, 2), bobID, true, "Employees"},
		{"deny that does not match falls through", apPrec(blockFinance, 1, employees, 2), aliceID, true, "Employees"},
		{"unsimulated selector never matches", ap(unsimulated), aliceID, false, ""},
		{"no policies deny", nil, aliceID, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &app{policies: ordered(tc.policies)}
			v := a.decide(tc.id)
			if v.allowed != tc.allowed || v.policyName() != tc.policy {
				t.Fatalf("decide = allowed %v by %q; want %v by %q", v.allowed, v.policyName(), tc.allowed, tc.policy)
			}
		})
	}
}

func ap(ps ...*tfconfig.AccessPolicy) []tfconfig.AppPolicy {
	var out []tfconfig.AppPolicy
	for _, p := range ps {
		out = append(out, tfconfig.AppPolicy{ID: p.ID, Policy: p})
	}
	return out
}

func apPrec(p1 *tfconfig.AccessPolicy, prec1 int, p2 *tfconfig.AccessPolicy, prec2 int) []tfconfig.AppPolicy {
	return []tfconfig.AppPolicy{{Policy: p1, Precedence: prec1}, {Policy: p2, Precedence: prec2}}
}

// Bypass and non_identity policies come before allow and deny whatever
// their precedence, and need no identity.
func TestBypassBeforeIdentity(t *testing.T) {
	bypass := pol("Public", "bypass", rules(rule("everyone", "")), nil, nil)
	emailOnly := pol("Service", "non_identity", rules(rule("email", "alice@example.com")), nil, nil)
	deny := pol("Nobody", "deny", rules(rule("everyone", "")), nil, nil)
	a := &app{policies: ordered(apPrec(deny, 1, bypass, 9))}
	if v, ok := a.anonymous(""); !ok || v.policyName() != "Public" {
		t.Fatalf("bypass: %v %+v", ok, v)
	}
	a = &app{policies: ordered(apPrec(deny, 1, emailOnly, 9))}
	if _, ok := a.anonymous(""); ok {
		t.Fatal("a non_identity policy on an e-mail matched without an identity")
	}
}

func TestCompile(t *testing.T) {
	yes := true
	cfg := &tfconfig.Config{
		Organization: &tfconfig.Organization{AllowAuthenticateViaWARP: true, WarpAuthSessionDuration: time.Hour, SessionDuration: 8 * time.Hour},
		AccessApplications: []*tfconfig.AccessApplication{
			{Name: "Wiki", Type: "self_hosted", Domain: "Wiki.Acme.Internal"},
			{Name: "Wiki admin", Type: "self_hosted", Domain: "wiki.acme.internal/admin", AllowAuthenticateViaWARP: &yes, EnableBindingCookie: true},
			{Name: "SaaS", Type: "saas", Domain: "saas.example.com"},
			{Name: "No domain", Type: "self_hosted"},
			// Provider v5 writes hostnames as destinations.
			{Name: "Docs", Type: "self_hosted", Domain: "docs.acme.internal", Destinations: []string{"docs.acme.internal", "handbook.acme.internal/v2"}},
		},
	}
	apps, err := Compile(cfg)
	if err != nil || apps.Len() != 3 {
		t.Fatalf("Compile: %d apps, %v", apps.Len(), err)
	}
	for _, tc := range []struct{ host, path, want string }{
		{"wiki.acme.internal", "/", "Wiki"},
		{"WIKI.acme.internal:80", "/page", "Wiki"},
		{"wiki.acme.internal", "/admin", "Wiki admin"},
		{"wiki.acme.internal", "/admin/users", "Wiki admin"},
		{"wiki.acme.internal", "/administrator", "Wiki"},
		{"wiki.acme.internal:8080", "/", ""},
		{"saas.example.com", "/", ""},
		{"docs.acme.internal", "/", "Docs"},
		{"handbook.acme.internal", "/v2/intro", "Docs"},
		{"handbook.acme.internal", "/v1", ""},
	} {
		got := apps.match(tc.host, tc.path)
		if (got == nil && tc.want != "") || (got != nil && got.name != tc.want) {
			t.Errorf("match(%q, %q) = %+v, want %q", tc.host, tc.path, got, tc.want)
		}
	}
	if a := apps.match("wiki.acme.internal", "/"); !a.device.Enabled || a.session != 8*time.Hour {
		t.Errorf("wiki: device %+v, session %v", a.device, a.session)
	}
	if a := apps.match("wiki.acme.internal", "/admin"); a.device.Enabled {
		t.Error("device identity applies to an application with the binding cookie")
	}
	cfg.AccessApplications = append(cfg.AccessApplications, &tfconfig.AccessApplication{Name: "Copy", Type: "self_hosted", Domain: "wiki.acme.internal"})
	if _, err := Compile(cfg); err == nil || !strings.Contains(err.Error(), "both protect") {
		t.Fatalf("two applications on one domain: %v", err)
	}
}

// fakeTeam verifies tokens of the form "ok:<app>:<email>".
type fakeTeam struct{}

func (fakeTeam) URL() string { return teamURL }

func (fakeTeam) VerifyAppToken(raw, app string) (access.Identity, error) {
	parts := strings.Split(raw, ":")
	if len(parts) != 3 || parts[0] != "ok" || parts[1] != app {
		return access.Identity{}, errors.New("invalid token")
	}
	return access.Identity{Email: parts[2], Groups: []string{"engineering"}, AuthenticatedAt: t0}, nil
}

type fixture struct {
	g     *Gate
	clock *clock.Fake
	mu    sync.Mutex
	sigs  []DeviceSessionExpired
	fail  bool
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	no := false
	employees := pol("Employees", "allow", rules(rule("email_domain", "example.com")), nil, nil)
	cfg := &tfconfig.Config{
		Organization: &tfconfig.Organization{AllowAuthenticateViaWARP: true, WarpAuthSessionDuration: time.Hour},
		AccessApplications: []*tfconfig.AccessApplication{
			{Resource: tfconfig.Resource{ID: "app-wiki"}, Name: "Wiki", Type: "self_hosted", Domain: "wiki.acme.internal", Policies: ap(employees)},
			{Resource: tfconfig.Resource{ID: "app-git"}, Name: "Git", Type: "self_hosted", Domain: "git.acme.internal", AllowAuthenticateViaWARP: &no, Policies: ap(employees)},
		},
	}
	apps, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: clock.NewFake(t0)}
	f.g, err = New(Options{Apps: apps, TeamDomain: fakeTeam{}, Clock: f.clock, OnDeviceSessionExpired: func(_ context.Context, e DeviceSessionExpired) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.fail {
			return errors.New("registry down")
		}
		f.sigs = append(f.sigs, e)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) signals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sigs)
}

func requester(email string, authTime time.Time) gateway.Requester {
	return gateway.Requester{Flow: wg.Flow{DeviceID: "dev-1"}, Identity: gateway.Identity{Email: email, Groups: []string{"engineering"}, AuthTime: authTime}}
}

func request(t *testing.T, rawURL string, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOtherHostsPassUntouched(t *testing.T) {
	f := newFixture(t)
	req := request(t, "http://intranet.acme.internal/", HeaderEmail, "x@y")
	if resp := f.g.HookRequest(context.Background(), req, requester("alice@example.com", t0)); resp != nil {
		t.Fatalf("a request to a host with no application was answered: %d", resp.StatusCode)
	}
	if req.Header.Get(HeaderEmail) != "x@y" {
		t.Fatal("a request to a host with no application was changed")
	}
}

// S9 and S10 at the unit level: inside the device session the request is
// alice's; one second past it, she is redirected and the device signalled
// once per auth_time, again after a re-authentication, and again after a
// failed signal.
func TestDeviceSessionBoundary(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	from := requester("alice@example.com", t0)
	f.clock.Advance(time.Hour) // age == duration: still inside (S9 says ≤)
	req := request(t, "http://wiki.acme.internal/p", "cf-access-jwt-assertion", "forged")
	if resp := f.g.HookRequest(ctx, req, from); resp != nil {
		t.Fatalf("at exactly the duration: %d %s", resp.StatusCode, body(t, resp))
	}
	c, err := f.g.VerifyAssertion(req.Header.Get(HeaderAssertion), "wiki.acme.internal")
	if err != nil || c.Email != "alice@example.com" || len(req.Header.Values(HeaderAssertion)) != 1 {
		t.Fatalf("assertion: %+v %v %q", c, err, req.Header.Values(HeaderAssertion))
	}

	f.clock.Advance(time.Second)
	for range 3 {
		resp := f.g.HookRequest(ctx, request(t, "http://wiki.acme.internal/p?q=1"), from)
		want := teamURL + "/cdn-cgi/access/login/wiki.acme.internal?redirect_url=" + url.QueryEscape("http://wiki.acme.internal/p?q=1")
		if resp == nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
			t.Fatalf("past the duration: %+v", resp)
		}
	}
	if n := f.signals(); n != 1 {
		t.Fatalf("%d signals for one expired session, want 1", n)
	}
	f.mu.Lock()
	if s := f.sigs[0]; s.AppName != "Wiki" || s.AppID != "app-wiki" || s.DeviceID != "dev-1" || !s.AuthTime.Equal(t0) {
		t.Errorf("signal: %+v", s)
	}
	f.fail = true
	f.mu.Unlock()

	later := requester("alice@example.com", t0.Add(time.Minute)) // re-authenticated, expired again
	f.clock.Advance(time.Hour)
	f.g.HookRequest(ctx, request(t, "http://wiki.acme.internal/"), later) // the signal fails
	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	f.g.HookRequest(ctx, request(t, "http://wiki.acme.internal/"), later)
	f.g.HookRequest(ctx, request(t, "http://wiki.acme.internal/"), later)
	if n := f.signals(); n != 2 {
		t.Fatalf("%d signals after a new auth_time and a failed signal, want 2", n)
	}
}

// The login path: a binding-cookie application redirects, /authorized
// turns the team domain's token into a cookie (refusing another
// application's token and foreign redirect targets), and the cookie then
// authenticates.
func TestLoginCookie(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	from := requester("alice@example.com", t0)
	if resp := f.g.HookRequest(ctx, request(t, "http://git.acme.internal/r"), from); resp == nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("binding-cookie app with a fresh device session: %+v", resp)
	}
	if f.signals() != 0 {
		t.Fatal("a binding-cookie application signalled the device")
	}
	bad := f.g.HookRequest(ctx, request(t, "http://git.acme.internal/cdn-cgi/access/authorized?token=ok:wiki.acme.internal:alice@example.com"), from)
	if bad == nil || bad.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the wiki's token at git: %+v", bad)
	}
	resp := f.g.HookRequest(ctx, request(t, "http://git.acme.internal/cdn-cgi/access/authorized?token=ok:git.acme.internal:alice@example.com&redirect_url="+
		url.QueryEscape("http://evil.example/")), from)
	if resp == nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://git.acme.internal/" {
		t.Fatalf("authorized with a foreign redirect: %+v", resp)
	}
	cookies := (&http.Response{Header: resp.Header}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != CookieName || !cookies[0].HttpOnly || cookies[0].Domain != "" {
		t.Fatalf("cookies: %+v", cookies)
	}
	req := request(t, "http://git.acme.internal/r", "Cookie", CookieName+"="+cookies[0].Value)
	if resp := f.g.HookRequest(ctx, req, from); resp != nil {
		t.Fatalf("with the cookie: %d %s", resp.StatusCode, body(t, resp))
	}
	if req.Header.Get(HeaderEmail) != "alice@example.com" {
		t.Fatal("no identity header with the cookie")
	}
	if _, err := f.g.VerifyAssertion(cookies[0].Value, "git.acme.internal"); err == nil {
		t.Fatal("a session cookie verified as an assertion")
	}
	// An assertion replayed as a cookie is not a session.
	replay := request(t, "http://git.acme.internal/r", "Cookie", CookieName+"="+req.Header.Get(HeaderAssertion))
	if resp := f.g.HookRequest(ctx, replay, from); resp == nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("an assertion used as a cookie: %+v", resp)
	}
	// Another user's login is decided by the policies: eve is not an
	// employee.
	resp = f.g.HookRequest(ctx, request(t, "http://git.acme.internal/cdn-cgi/access/authorized?token=ok:git.acme.internal:eve@contractor.test"), from)
	if resp == nil || resp.StatusCode != http.StatusForbidden || !strings.Contains(body(t, resp), "eve@contractor.test") {
		t.Fatalf("eve's login: %+v", resp)
	}
	f.clock.Advance(25 * time.Hour)
	if resp := f.g.HookRequest(ctx, request(t, "http://git.acme.internal/r", "Cookie", CookieName+"="+cookies[0].Value), from); resp == nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("with a cookie past the 24h default session: %+v", resp)
	}
}
