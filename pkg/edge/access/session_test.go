package access

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/session"
)

func TestPathsMatchTheAgentsView(t *testing.T) {
	e := newEnv(t, envOptions{})
	want, err := session.RefreshIdentityURL(e.tdURL)
	if err != nil || e.td.RefreshIdentityURL() != want {
		t.Fatalf("RefreshIdentityURL %q, the agent builds %q (%v)", e.td.RefreshIdentityURL(), want, err)
	}
	if e.td.CallbackURL() != e.tdURL+"/cdn-cgi/access/callback" || e.td.URL() != e.tdURL {
		t.Fatalf("CallbackURL %q URL %q", e.td.CallbackURL(), e.td.URL())
	}
	if p := e.td.IdP(); p.Type != "azureAD" || p.ClientID != clientID || p.Prompt != "" {
		t.Fatalf("IdP() = %+v", p)
	}
}

// TestS11PromptLoginForcesForm: with an IdP session cookie, an azureAD IdP
// configured with prompt=login asks for credentials on refresh-identity,
// and the new login renews auth_time.
func TestS11PromptLoginForcesForm(t *testing.T) {
	e := newEnv(t, envOptions{prompt: "login"})
	b := e.browser()
	e.enroll(b, alice)

	e.clk.Advance(time.Hour)
	res := e.refresh(b, alice)
	if res.FormsShown != 1 {
		t.Fatalf("prompt=login: the form was shown %d times, want 1", res.FormsShown)
	}
	l := e.lastLogin()
	if l.Trigger != TriggerRefreshIdentity || !l.AuthTime.Equal(epoch.Add(time.Hour)) || l.Prompt != "login" {
		t.Fatalf("login after prompt=login: %+v", l)
	}
	// The authorize request carried the prompt.
	for _, ev := range e.events() {
		if ev.Type == "authorize" && ev.Prompt != "login" {
			t.Fatalf("authorize without the prompt: %+v", ev)
		}
	}
}

// TestS11NoPromptIsSilent: without prompt the IdP session signs the user in
// again without the form, and auth_time stays that of the last login.
func TestS11NoPromptIsSilent(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	e.enroll(b, alice)
	e.clk.Advance(time.Hour)
	res := e.refresh(b, alice)
	if res.FormShown() {
		t.Fatal("the form was shown without prompt despite the IdP session")
	}
	if l := e.lastLogin(); l.Trigger != TriggerRefreshIdentity || !l.AuthTime.Equal(epoch) || l.Prompt != "" {
		t.Fatalf("silent refresh: %+v", l)
	}
	if !strings.Contains(res.Body, "alice@acme.example") || !strings.Contains(res.Body, "engineering") {
		t.Fatalf("refreshed page lacks the identity: %q", res.Body)
	}
}

// TestS11ReloadRemovesPrompt: a reload that removes the prompt applies to
// the next authorize request.
func TestS11ReloadRemovesPrompt(t *testing.T) {
	o := envOptions{prompt: "login"}
	e := newEnv(t, o)
	b := e.browser()
	e.enroll(b, alice)
	o.prompt = ""
	if err := e.td.SetIdP(e.idpConfig(o)); err != nil {
		t.Fatal(err)
	}
	if res := e.refresh(b, alice); res.FormShown() {
		t.Fatal("the removed prompt was still sent")
	}
	o.prompt = "select_account"
	if err := e.td.SetIdP(e.idpConfig(o)); err != nil {
		t.Fatal(err)
	}
	if res := e.refresh(b, alice); !res.FormShown() {
		t.Fatal("prompt=select_account added by a reload did not force the form")
	}
}

func TestS11PromptOnlyForAzureAD(t *testing.T) {
	e := newEnv(t, envOptions{})
	bad := e.idpConfig(envOptions{idpType: "oidc", prompt: "login"})
	opts := Options{TeamName: "acme", PublicURL: e.tdURL, IdP: bad}
	if _, err := New(opts); err == nil || !strings.Contains(err.Error(), "azureAD") {
		t.Fatalf("New with prompt on an oidc IdP: %v", err)
	}
	if err := e.td.SetIdP(bad); err == nil || !strings.Contains(err.Error(), "azureAD") {
		t.Fatalf("SetIdP with prompt on an oidc IdP: %v", err)
	}
	if err := e.td.SetIdP(e.idpConfig(envOptions{prompt: "always"})); err == nil {
		t.Fatal("an unknown prompt value was accepted")
	}
	// The refused reloads changed nothing: still silent.
	b := e.browser()
	e.enroll(b, alice)
	if res := e.refresh(b, nil); res.FormShown() {
		t.Fatal("a refused SetIdP changed the configuration")
	}
}

// TestS12GroupsReloaded: a group change at the IdP reaches OnLogin through
// refresh-identity.
func TestS12GroupsReloaded(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	e.enroll(b, alice)
	if err := e.idp.SetUsers(testUsers("engineering", "sre")); err != nil {
		t.Fatal(err)
	}
	res := e.refresh(b, nil)
	if l := e.lastLogin(); !slices.Equal(l.Groups, []string{"engineering", "sre"}) || l.Trigger != TriggerRefreshIdentity {
		t.Fatalf("groups after refresh: %+v", l)
	}
	if !strings.Contains(res.Body, "sre") {
		t.Fatal("the refreshed page does not show the new groups")
	}
}

// TestS2EveryPathReportsNewAuthTime: enrollment, refresh-identity and an
// Access login each call OnLogin with the auth_time of the login they made.
func TestS2EveryPathReportsNewAuthTime(t *testing.T) {
	e := newEnv(t, envOptions{prompt: "login"})
	b := e.browser()
	e.enroll(b, alice)
	e.clk.Advance(time.Hour)
	e.refresh(b, alice)
	e.clk.Advance(time.Hour)
	res := e.visit(b, e.tdURL+PathLogin+appDomain, scriptbrowser.VisitOptions{Login: alice, StopAt: []string{"http://" + appDomain + "/"}})
	if !res.Stopped {
		t.Fatalf("access login did not reach the application: %d %q", res.Status, res.ErrorText)
	}
	got := e.loginsSoFar()
	want := []struct {
		trigger Trigger
		at      time.Time
	}{{TriggerEnrollment, epoch}, {TriggerRefreshIdentity, epoch.Add(time.Hour)}, {TriggerAccessLogin, epoch.Add(2 * time.Hour)}}
	if len(got) != len(want) {
		t.Fatalf("OnLogin calls: %+v", got)
	}
	for i, w := range want {
		if got[i].Trigger != w.trigger || !got[i].AuthTime.Equal(w.at) || got[i].Email != "alice@acme.example" {
			t.Errorf("login %d: %s at %s, want %s at %s", i, got[i].Trigger, got[i].AuthTime, w.trigger, w.at)
		}
	}
	if got[2].AppDomain != appDomain {
		t.Errorf("access login app domain %q", got[2].AppDomain)
	}
}

func TestRefreshRedirectURL(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	e.enroll(b, alice)
	for _, next := range []string{"/status?x=1", e.tdURL + "/status?x=1"} {
		res := e.visit(b, e.td.RefreshIdentityURL()+"?redirect_url="+url.QueryEscape(next), scriptbrowser.VisitOptions{StopAt: []string{e.tdURL + "/status"}})
		if !res.Stopped || res.URL != e.tdURL+"/status?x=1" {
			t.Errorf("redirect_url %q: %+v", next, res)
		}
	}
	for _, bad := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "http://acme.localhost:1/", "javascript:alert(1)", "status"} {
		res := e.visit(b, e.td.RefreshIdentityURL()+"?redirect_url="+url.QueryEscape(bad), scriptbrowser.VisitOptions{})
		if res.Status != http.StatusBadRequest || len(res.Visited) != 1 {
			t.Errorf("redirect_url %q: %d %v", bad, res.Status, res.Visited)
		}
	}
}

func TestPendingLoginSurvivesReload(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	// The browser reaches the IdP's form, then the configuration changes.
	res := e.visit(b, e.warpURL(agentCB, "agent-state-1", "v"+strings.Repeat("x", 50)), scriptbrowser.VisitOptions{})
	if !res.FormShown() {
		t.Fatalf("expected the IdP form: %+v", res)
	}
	if err := e.td.SetIdP(e.idpConfig(envOptions{prompt: "login"})); err != nil {
		t.Fatal(err)
	}
	authorize := res.URL // the IdP authorize request, carrying our state
	res = e.visit(b, authorize, scriptbrowser.VisitOptions{Login: alice})
	if !res.Stopped || res.Query().Get("code") == "" || res.Query().Get("state") != "agent-state-1" {
		t.Fatalf("the pending login did not finish after a reload: %d %q", res.Status, res.ErrorText)
	}
	if l := e.lastLogin(); l.Prompt != "" {
		t.Fatalf("the pending login took the new prompt: %+v", l)
	}
}
