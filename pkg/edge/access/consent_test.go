package access

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
)

var consentID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// An enrollment hands out its code only after the person confirms, in the
// browser that logged in, once: a page that walks a browser through /warp
// silently gets a confirmation page, not a code.
func TestEnrollmentNeedsConfirmation(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	verifier := oauth2.GenerateVerifier()
	res := e.visit(b, e.warpURL(agentCB, "s1", verifier), scriptbrowser.VisitOptions{Login: alice, DeclineConsent: true})
	if res.Stopped || res.Status != http.StatusOK || res.Confirmations != 1 ||
		!strings.Contains(res.Body, "alice@acme.example") || !strings.Contains(res.Body, strings.TrimPrefix(agentCB, "http://")[:len("127.0.0.1")]) {
		t.Fatalf("declined enrollment: stopped %v, status %d, confirmations %d\n%s", res.Stopped, res.Status, res.Confirmations, res.Body)
	}
	m := consentID.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("no confirmation ID on the page:\n%s", res.Body)
	}
	post := func(c *http.Client, id, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.tdURL+PathWARPConfirm, strings.NewReader(url.Values{"id": {id}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// Another browser (no cookie) cannot confirm it, and burns it.
	other := e.browser()
	if resp := post(other.Client(), m[1], ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("confirmation from another browser: %d", resp.StatusCode)
	}
	if resp := post(b.Client(), m[1], e.tdURL); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("confirmation after a refused one: %d; want it spent", resp.StatusCode)
	}

	// A cross-site POST is refused even from the right browser.
	res = e.visit(b, e.warpURL(agentCB, "s2", verifier), scriptbrowser.VisitOptions{Login: alice, DeclineConsent: true})
	m = consentID.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatal("no confirmation page on the second enrollment")
	}
	if resp := post(b.Client(), m[1], "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site confirmation: %d", resp.StatusCode)
	}

	// Confirmed in the right browser: the code goes to the agent, once.
	res = e.visit(b, e.warpURL(agentCB, "s3", verifier), scriptbrowser.VisitOptions{Login: alice, DeclineConsent: true})
	m = consentID.FindStringSubmatch(res.Body)
	resp := post(b.Client(), m[1], e.tdURL)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || !strings.HasPrefix(loc.String(), agentCB) || loc.Query().Get("state") != "s3" || loc.Query().Get("code") == "" {
		t.Fatalf("confirmation: %d %v", resp.StatusCode, loc)
	}
	if _, err := e.td.RedeemEnrollment(e.t.Context(), loc.Query().Get("code"), verifier); err != nil {
		t.Fatal(err)
	}
	if resp := post(b.Client(), m[1], e.tdURL); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a second confirmation: %d", resp.StatusCode)
	}
}
