package access

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/edge/idp"
)

// flood starts n sign-ins at /warp as an unauthenticated client at
// remoteAddr's IP would, without cookies, straight into the handler (the
// attack needs no network, and this keeps it fast under -race). Every one
// must be sent on to the IdP.
func (e *env) flood(n int, remoteIP string) {
	e.t.Helper()
	u := e.warpURL(agentCB, "flood-state", oauth2.GenerateVerifier())
	for i := range n {
		r := httptest.NewRequest(http.MethodGet, u, nil)
		r.RemoteAddr = fmt.Sprintf("%s:%d", remoteIP, 1024+i%60000)
		if strings.Contains(remoteIP, ":") {
			r.RemoteAddr = fmt.Sprintf("[%s]:%d", remoteIP, 1024+i%60000)
		}
		w := httptest.NewRecorder()
		e.td.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusSeeOther {
			e.t.Fatalf("flood request %d from %s: %d %q", i+1, remoteIP, w.Code, w.Body.String())
		}
	}
}

func (e *env) pendingLen() int {
	e.td.mu.Lock()
	defer e.td.mu.Unlock()
	return e.td.pending.len()
}

// TestFloodOfSignInsDoesNotLockSignInOut reproduces issue 12 item 9:
// 10,000 unauthenticated requests to /warp filled the pending-login table
// and every sign-in was refused for 10 minutes ("wait a minute"). With the
// default bounds and the same flood from this host (127.0.0.1, which every
// local user shares), the flood's own sign-ins make room for a user's.
func TestFloodOfSignInsDoesNotLockSignInOut(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.flood(DefaultMaxPendingLogins+1, "127.0.0.1")
	if n := e.pendingLen(); n != DefaultMaxPendingLogins {
		t.Fatalf("%d pending sign-ins after the flood, want the bound %d", n, DefaultMaxPendingLogins)
	}
	code, verifier, _ := e.enroll(e.browser(), alice)
	if l, err := e.td.RedeemEnrollment(e.t.Context(), code, verifier); err != nil || l.Email != "alice@acme.example" {
		t.Fatalf("redeem after the flood: %+v %v", l, err)
	}
}

// TestSignInSurvivesFloodsFromElsewhere: a user's sign-in that waits at
// the IdP while many remote clients flood /warp is still there when the
// user comes back, because each flooder displaces only its own oldest
// sign-ins, and a full table the heaviest client's.
func TestSignInSurvivesFloodsFromElsewhere(t *testing.T) {
	const max, perClient = 200, 20
	e := newEnv(t, envOptions{maxPending: max, maxPendingPerClient: perClient})
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	authorize := "http://idp.localhost:" + e.idpSrv.port + idp.PathAuthorize
	res := e.visit(b, e.warpURL(agentCB, "agent-state-1", verifier), scriptbrowser.VisitOptions{StopAt: []string{authorize}})
	if !res.Stopped {
		t.Fatalf("the sign-in did not reach the IdP: %d %s", res.Status, res.URL)
	}

	// Twelve clients, more than the table holds at their own bound; the
	// IPv6 ones rotate their addresses within one /64.
	for i := range 10 {
		e.flood(5*perClient, fmt.Sprintf("192.0.2.%d", i+1))
	}
	for i := range 5 * perClient {
		e.flood(1, fmt.Sprintf("2001:db8:1:2::%x", i+1))
		e.flood(1, fmt.Sprintf("2001:db8:7:7:%x::1", i+1))
	}
	if n := e.pendingLen(); n > max {
		t.Fatalf("%d pending sign-ins, over the bound %d", n, max)
	}

	res = e.visit(b, res.URL, scriptbrowser.VisitOptions{Login: alice})
	if !res.Stopped || res.Query().Get("state") != "agent-state-1" || res.Query().Get("code") == "" {
		t.Fatalf("the sign-in started before the flood did not complete: %d %s %q", res.Status, res.URL, res.ErrorText)
	}
	if _, err := e.td.RedeemEnrollment(e.t.Context(), res.Query().Get("code"), verifier); err != nil {
		t.Fatal(err)
	}
}

// TestFullConfirmationTableSaysHowLongToWait: where a refusal remains (the
// confirmations and codes that follow a successful IdP login), the page
// gives the real wait, from the oldest entry's expiry.
func TestFullConfirmationTableSaysHowLongToWait(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.td.mu.Lock()
	for i := range maxConsents {
		e.td.consents[fmt.Sprint(i)] = &consent{expires: epoch.Add(3*time.Minute + time.Duration(i)*time.Millisecond)}
	}
	e.td.mu.Unlock()
	res := e.visit(e.browser(), e.warpURL(agentCB, "agent-state-1", oauth2.GenerateVerifier()), scriptbrowser.VisitOptions{Login: alice})
	if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.ErrorText, "Wait 3 minutes and run the registration again") {
		t.Fatalf("full confirmation table: %d %q", res.Status, res.ErrorText)
	}
	if strings.Contains(res.ErrorText, "a minute") || strings.Contains(res.ErrorText, "a few minutes") {
		t.Fatalf("the page guesses the wait: %q", res.ErrorText)
	}
}
