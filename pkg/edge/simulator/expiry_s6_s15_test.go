package simulator

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/control"
)

const wikiAddr = "10.0.0.10:80"

// S6: with every Gateway session of alice's device expired (2h > the
// wiki's 1h30m and git's 1h), the edge resolver still answers through the
// tunnel: the wiki's name resolves while its connections are refused, and
// the DNS block of the tracker still applies.
func TestS6_DNSAnswersDuringExpiry(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	tn := a.startTunnel()
	resolver := reg.Tunnel.DNS[0]

	advance(t, s, 2*time.Hour)
	if !dialRefused(t, tn, wikiAddr) {
		t.Fatal("a new wiki connection was accepted after 2h: the session is not expired, the test proves nothing")
	}
	if got := lookupThrough(t, tn, resolver, "wiki.acme.internal"); len(got) != 1 || got[0] != netip.MustParseAddr("10.0.0.10") {
		t.Fatalf("wiki.acme.internal during expiry: %v", got)
	}
	if got := lookupThrough(t, tn, resolver, "tracker.example.net"); len(got) != 1 || !got[0].IsUnspecified() {
		t.Fatalf("tracker.example.net during expiry: %v; want the DNS policy's 0.0.0.0", got)
	}
	if r := fetchThrough(t, tn, "http://wiki.acme.internal/", nil); r.status != http.StatusBadGateway && r.status != http.StatusServiceUnavailable {
		t.Fatalf("the wiki by name during expiry: %d; want the proxy's refusal (the name resolved, the flow was refused)", r.status)
	}
}

// S7: a TCP connection to the wiki opened inside the session keeps
// carrying requests after the session expired, while a new connection is
// refused.
func TestS7_OpenConnectionSurvives(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	a.enroll(alice)
	tn := a.startTunnel()

	c, err := tn.DialContext(t.Context(), "tcp", wikiAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	get := func(path string) (int, string) {
		t.Helper()
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: wiki.acme.internal\r\n\r\n", path); err != nil {
			t.Fatalf("write on the open connection: %v", err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read on the open connection: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get("/before"); status != 200 || body != "wiki: GET /before" {
		t.Fatalf("before expiry: %d %q", status, body)
	}
	advance(t, s, 2*time.Hour)
	if !dialRefused(t, tn, wikiAddr) {
		t.Fatal("a new wiki connection was accepted after 2h")
	}
	if status, body := get("/after"); status != 200 || body != "wiki: GET /after" {
		t.Fatalf("the open connection after expiry: %d %q", status, body)
	}
}

// blockEverythingTF is a network policy that blocks every TCP flow, ahead
// of every other policy.
const blockEverythingTF = `
resource "cloudflare_zero_trust_gateway_policy" "block_everything" {
  name        = "Block everything"
  enabled     = true
  account_id  = var.cloudflare_account_id
  precedence  = 1
  action      = "block"
  filters     = ["l4"]
  traffic     = "net.protocol == \"tcp\""
}
`

// S15: with the session expired and a policy that blocks every TCP flow,
// the team domain and the IdP still answer through the tunnel, and a whole
// refresh-identity in a browser whose traffic goes through the tunnel
// succeeds and resets the session.
func TestS15_TeamDomainAndIdPReachableDuringExpiry(t *testing.T) {
	tc := newTestConfig(t)
	tc.writeTF(t, tc.readTF(t)+blockEverythingTF)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	tn := a.startTunnel()
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	advance(t, s, 2*time.Hour)
	if !dialRefused(t, tn, wikiAddr) {
		t.Fatal("the wiki was reachable: the block policy does not apply, the test proves nothing")
	}
	if r := fetchThrough(t, tn, s.TeamDomainURL()+"/warp", nil); r.status != http.StatusBadRequest || !strings.Contains(r.body, "redirect_uri") {
		t.Fatalf("team domain during expiry: %d %q", r.status, r.body)
	}
	if r := fetchThrough(t, tn, s.IdPURL()+"/.well-known/openid-configuration", nil); r.status != http.StatusOK || !strings.Contains(r.body, `"issuer"`) {
		t.Fatalf("IdP during expiry: %d %q", r.status, r.body)
	}

	b := browserThrough(t, tn)
	res, err := b.Visit(t.Context(), reg.Team.RefreshIdentityURL, scriptbrowser.VisitOptions{Login: alice})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusOK || res.FormsSubmitted != 1 {
		t.Fatalf("refresh-identity through the tunnel ended at %s with %d (forms %d): %s", res.URL, res.Status, res.FormsSubmitted, res.ErrorText)
	}
	if ev := nextEvent(t, st); ev.Type != control.EventSessionRefreshed {
		t.Fatalf("after refresh-identity through the tunnel: %+v", ev)
	}
}

// S3 and S16's edge half: a burst of 100 new wiki connections after the
// wiki session expired is refused, and the device gets exactly one
// session_expired for it. The Gateway delivers its signals in order, so a
// later block by another policy (git, over HTTP) is the fence: its event
// must be the very next one.
func TestOneSignalForBurstOf100BlockedFlows(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	tn := a.startTunnel()
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	advance(t, s, 91*time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tn.DialContext(t.Context(), "tcp", wikiAddr)
			if err == nil {
				c.Close()
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if accepted != 0 {
		t.Fatalf("%d of 100 new wiki connections were accepted after 1h31m", accepted)
	}
	if r := fetchThrough(t, tn, "http://git.acme.internal/fence", nil); r.status != http.StatusForbidden {
		t.Fatalf("git after 1h31m: %d; want the session-expired block", r.status)
	}
	for i, want := range []string{"Company Wiki Network policy", "Git over HTTP"} {
		ev := nextEvent(t, st)
		var se control.SessionExpired
		if ev.Type != control.EventSessionExpired || json.Unmarshal(ev.Payload, &se) != nil || se.PolicyName != want {
			t.Fatalf("event %d: %+v %s; want session_expired for %q (one per policy)", i, ev, ev.Payload, want)
		}
	}
}

// The seed page's wiki policy ("Company Wiki Network policy", l4,
// identity.email matches ".*@example.com", check_session 1h30m0s): alice
// reaches the wiki at 1h29m of session age, a new connection is blocked at
// 1h31m, and a re-authentication (refresh-identity) resets the age so the
// wiki is reachable again.
func TestSeedWikiPolicy(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	a.enroll(alice)
	tn := a.startTunnel()
	wiki := func() int {
		t.Helper()
		if dialRefused(t, tn, wikiAddr) {
			return 0
		}
		return fetchThrough(t, tn, "http://wiki.acme.internal/", nil).status
	}

	if got := wiki(); got != http.StatusOK {
		t.Fatalf("at enrollment: %d", got)
	}
	advance(t, s, 89*time.Minute)
	if got := wiki(); got != http.StatusOK {
		t.Fatalf("at 1h29m: %d", got)
	}
	advance(t, s, 2*time.Minute)
	if got := wiki(); got != 0 {
		t.Fatalf("at 1h31m: %d; want the new connection refused", got)
	}
	refreshIdentity(t, a, alice)
	if got := wiki(); got != http.StatusOK {
		t.Fatalf("after re-authentication: %d", got)
	}
	d, err := a.api().Device(t.Context(), a.reg.DeviceID)
	if err != nil || s.Clock().Now().Sub(d.AuthTime) > time.Minute {
		t.Fatalf("auth_time after re-authentication: %v (now %v, %v)", d.AuthTime, s.Clock().Now(), err)
	}
}
