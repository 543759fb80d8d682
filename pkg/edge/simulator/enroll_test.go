package simulator

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// Enrollment end to end: browser login at the team domain, code to the
// agent's loopback callback, registration at the control API, then traffic
// through the real tunnel to the virtual network and to the team domain by
// name (S15).
func TestEnrollmentEndToEnd(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-alice-laptop")

	team, err := a.api().Team(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if team.Domain != s.TeamDomainURL() || team.IdP.Type != "azureAD" || team.IdP.Prompt != "login" {
		t.Fatalf("team = %+v", team)
	}
	if _, err := a.api().Team(t.Context(), "other"); !apierror.HasCode(err, control.CodeUnknownTeam) {
		t.Fatalf("unknown team: %v", err)
	}

	reg := a.enroll(alice)
	if reg.DeviceID == "" || reg.DeviceToken == "" {
		t.Fatalf("registration without id or token: %+v", reg)
	}
	if reg.User.Email != alice.Email || !slices.Equal(reg.User.Groups, []string{"engineering"}) {
		t.Fatalf("user = %+v", reg.User)
	}
	if reg.AuthTime.IsZero() || reg.ServerTime.Before(reg.AuthTime) {
		t.Fatalf("auth_time %v, server_time %v", reg.AuthTime, reg.ServerTime)
	}
	if reg.Team.RefreshIdentityURL != s.TeamDomainURL()+"/cdn-cgi/access/refresh-identity" {
		t.Fatalf("refresh_identity_url = %q", reg.Team.RefreshIdentityURL)
	}
	tun := reg.Tunnel
	if tun.Endpoint != s.WireGuardAddr().String() || tun.MTU == 0 || len(tun.Addresses) != 1 ||
		!slices.Equal(tun.DNS, []string{"100.96.0.1"}) || !slices.Contains(tun.AllowedIPs, "100.96.0.0/12") ||
		!slices.Contains(tun.AllowedIPs, "10.0.0.10/32") {
		t.Fatalf("tunnel = %+v", tun)
	}
	addr := netip.MustParsePrefix(tun.Addresses[0])
	if !netip.MustParsePrefix("100.96.0.0/12").Contains(addr.Addr()) || addr.Addr() == netip.MustParseAddr("100.96.0.1") {
		t.Fatalf("address %v is outside the pool or is the resolver", addr)
	}

	d, err := a.api().Device(t.Context(), reg.DeviceID)
	if err != nil || d.State != "active" || d.User.Email != alice.Email {
		t.Fatalf("device = %+v, %v", d, err)
	}

	tn := a.startTunnel()
	status, body, err := getThrough(t.Context(), tn, "http://wiki.acme.internal/page")
	if err != nil || status != http.StatusOK || body != "wiki: GET /page" {
		t.Fatalf("wiki through the tunnel: %d %q %v", status, body, err)
	}
	// S15: the team domain answers through the tunnel under its own name.
	status, body, err = getThrough(t.Context(), tn, s.TeamDomainURL()+"/warp")
	if err != nil || status != http.StatusBadRequest || !strings.Contains(body, "redirect_uri") {
		t.Fatalf("team domain through the tunnel: %d %v\n%s", status, err, body)
	}

	kinds := auditKinds(t, s)
	for _, want := range []string{"idp_authorize", "idp_login", "registration"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("audit log lacks %s: %v", want, kinds)
		}
	}
}

// Refusals store nothing: a reused code, a wrong PKCE verifier (which burns
// the code), a non-loopback redirect_uri, bad and revoked tokens.
func TestEnrollmentRefusals(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	devices := func() int {
		devs, err := s.Registry().List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(devs)
	}

	// Wrong verifier: refused, and the code is burnt.
	e := a.login(alice)
	good := e.verifier
	e.verifier = randomString(t)
	if _, err := a.register(e); !isAPIError(err, 400, "invalid_grant") {
		t.Fatalf("a wrong code_verifier: %v; want 400 invalid_grant", err)
	}
	e.verifier = good
	if _, err := a.register(e); !isAPIError(err, 400, "invalid_grant") {
		t.Fatalf("a code after a wrong verifier: %v; want 400 invalid_grant", err)
	}
	if n := devices(); n != 0 {
		t.Fatalf("%d devices stored after refusals", n)
	}

	// Reused code.
	e = a.login(alice)
	if _, err := a.register(e); err != nil {
		t.Fatal(err)
	}
	if _, err := a.register(e); !isAPIError(err, 400, "invalid_grant") {
		t.Fatalf("a code redeemed twice: %v; want 400 invalid_grant", err)
	}
	if n := devices(); n != 1 {
		t.Fatalf("%d devices after one registration", n)
	}

	// Malformed requests.
	api := &control.Client{BaseURL: s.APIURL()}
	for name, req := range map[string]control.RegisterRequest{
		"no code":     {CodeVerifier: "v", WGPublicKey: "x", DeviceFingerprint: "f"},
		"bad wg key":  {Code: "c", CodeVerifier: "v", WGPublicKey: "not-a-key", DeviceFingerprint: "f"},
		"no verifier": {Code: "c", WGPublicKey: "x", DeviceFingerprint: "f"},
	} {
		if _, err := api.Register(t.Context(), req); !apierror.HasCode(err, control.CodeBadRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// A redirect_uri that is not a loopback IP literal never gets a code.
	for _, bad := range []string{"http://localhost:1234/callback", "http://10.0.0.1:1234/callback", "https://evil.example/callback"} {
		// Everything else is valid, so only redirect_uri can be refused.
		q := url.Values{"redirect_uri": {bad}, "state": {randomString(t)}, "code_challenge": {randomString(t)}, "code_challenge_method": {"S256"}}
		res, err := a.browser.Visit(t.Context(), s.TeamDomainURL()+"/warp?"+q.Encode(), scriptbrowser.VisitOptions{Login: alice, StopAt: []string{bad}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stopped || res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "redirect_uri") {
			t.Errorf("redirect_uri %s: status %d, stopped %v", bad, res.Status, res.Stopped)
		}
	}
	// The same request with a loopback redirect_uri gets through, so the
	// refusals above are about redirect_uri alone.
	q := url.Values{"redirect_uri": {callbackURL}, "state": {randomString(t)}, "code_challenge": {randomString(t)}, "code_challenge_method": {"S256"}}
	if res, err := a.browser.Visit(t.Context(), s.TeamDomainURL()+"/warp?"+q.Encode(), scriptbrowser.VisitOptions{Login: alice, StopAt: []string{callbackURL}}); err != nil || !res.Stopped {
		t.Fatalf("a valid /warp did not reach the callback: %+v %v", res, err)
	}

	// Bad token; revoked token.
	bogus := &control.Client{BaseURL: s.APIURL()}
	if _, err := bogus.Device(t.Context(), a.reg.DeviceID); !apierror.HasCode(err, "unauthorized") {
		t.Errorf("no token: %v", err)
	}
	bogus.Token = secret.New("not-the-token")
	if _, err := bogus.Device(t.Context(), a.reg.DeviceID); !apierror.HasCode(err, registry.CodeInvalidToken) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := adminClient(s).Revoke(t.Context(), a.reg.DeviceID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.api().Device(t.Context(), a.reg.DeviceID); !apierror.HasCode(err, registry.CodeRevoked) {
		t.Errorf("revoked token: %v", err)
	}
	if n := devices(); n != 1 {
		t.Fatalf("%d devices at the end", n)
	}
}

// A token only opens its own device.
func TestTokenOpensOnlyItsDevice(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a, b := newAgent(t, s, "fp-a"), newAgent(t, s, "fp-b")
	a.enroll(alice)
	b.enroll(bob)
	if _, err := a.api().Device(t.Context(), b.reg.DeviceID); !apierror.HasCode(err, control.CodeForbidden) {
		t.Fatalf("alice's token read bob's device: %v", err)
	}
	if err := a.api().Leave(t.Context(), b.reg.DeviceID); !apierror.HasCode(err, control.CodeForbidden) {
		t.Fatalf("alice's token removed bob's device: %v", err)
	}
}

func isAPIError(err error, status int, code string) bool {
	e, ok := err.(*apierror.Error)
	return ok && e.Status == status && e.Code == code
}

// Unknown routes and wrong methods answer the API's JSON error.
func TestUnknownRoutesAnswerJSON(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/nope", 404},
		{"PUT", "/v1/registrations", 405},
	} {
		req, _ := http.NewRequest(tt.method, s.APIURL()+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body apierror.Body
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || err != nil || body.Error.Code == "" {
			t.Errorf("%s %s: %d %+v %v", tt.method, tt.path, resp.StatusCode, body, err)
		}
	}
}
