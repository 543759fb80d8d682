package access

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/apierror"
)

// appLogin signs in to the application and returns the URL the browser was
// sent to on the application.
func (e *env) appLogin(b *scriptbrowser.Browser, app, redirect string) *url.URL {
	e.t.Helper()
	u := e.tdURL + PathLogin + app
	if redirect != "" {
		u += "?redirect_url=" + url.QueryEscape(redirect)
	}
	res := e.visit(b, u, scriptbrowser.VisitOptions{Login: alice, StopAt: []string{"http://" + strings.ToLower(app) + "/"}})
	if !res.Stopped {
		e.t.Fatalf("app login did not reach %s: %d %q", app, res.Status, res.ErrorText)
	}
	to, err := url.Parse(res.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	return to
}

func TestAppLoginToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	to := e.appLogin(b, appDomain, "/wiki/Home?x=1")
	if to.Path != PathAuthorized || to.Query().Get("redirect_url") != "http://"+appDomain+"/wiki/Home?x=1" {
		t.Fatalf("sent to %s", to)
	}
	tok := to.Query().Get("token")
	id, err := e.td.VerifyAppToken(tok, appDomain)
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "alice@acme.example" || id.Name != "Alice Liddell" || !slices.Equal(id.Groups, []string{"engineering"}) ||
		!id.AuthTime.Equal(epoch) || id.Subject == "" {
		t.Fatalf("identity: %+v", id)
	}
	if l := e.lastLogin(); l.Trigger != TriggerAccessLogin || l.AppDomain != appDomain {
		t.Fatalf("OnLogin: %+v", l)
	}

	refused := func(name, raw, app string) {
		t.Helper()
		_, err := e.td.VerifyAppToken(raw, app)
		var ae *apierror.Error
		if !errors.Is(err, ErrInvalidToken) || !errors.As(err, &ae) {
			t.Errorf("%s: %v", name, err)
		}
	}
	refused("wrong audience", tok, "other.acme.internal")
	refused("garbage", "not-a-token", appDomain)
	parts := strings.Split(tok, ".")
	flip := []byte(parts[1])
	flip[len(flip)/2] ^= 1
	refused("tampered payload", parts[0]+"."+string(flip)+"."+parts[2], appDomain)
	refused("no signature", parts[0]+"."+parts[1]+".", appDomain)

	// A token signed by another team domain's key.
	other := newEnv(t, envOptions{})
	refused("other key", other.appLogin(other.browser(), appDomain, "").Query().Get("token"), appDomain)

	e.clk.Advance(AppTokenLifetime)
	refused("expired", tok, appDomain)

	// Domains compare case-insensitively, and a configured path is ignored.
	to = e.appLogin(b, "OTHER.acme.internal", "")
	if _, err := e.td.VerifyAppToken(to.Query().Get("token"), "other.acme.internal"); err != nil || to.Query().Has("redirect_url") {
		t.Fatalf("second app: %v %s", err, to)
	}
}

func TestAppLoginRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	b := e.browser()
	for name, u := range map[string]string{
		"unknown app":          e.tdURL + PathLogin + "evil.example",
		"redirect elsewhere":   e.tdURL + PathLogin + appDomain + "?redirect_url=" + url.QueryEscape("https://evil.example/"),
		"protocol-relative":    e.tdURL + PathLogin + appDomain + "?redirect_url=" + url.QueryEscape("//evil.example/"),
		"javascript":           e.tdURL + PathLogin + appDomain + "?redirect_url=" + url.QueryEscape("javascript:alert(1)"),
		"userinfo redirection": e.tdURL + PathLogin + appDomain + "?redirect_url=" + url.QueryEscape("http://"+appDomain+"@evil.example/"),
	} {
		res := e.visit(b, u, scriptbrowser.VisitOptions{Login: alice})
		if res.Status < 400 || res.ErrorText == "" || len(res.Visited) != 1 {
			t.Errorf("%s: %d %q %v", name, res.Status, res.ErrorText, res.Visited)
		}
	}
	if len(e.loginsSoFar()) != 0 {
		t.Fatal("a refused app login signed in")
	}
	if err := e.td.SetAppDomains([]string{"bad host/x", "a@b"}); err == nil {
		t.Fatal("bad application domains accepted")
	}
	if err := e.td.SetAppDomains([]string{"new.acme.internal"}); err != nil {
		t.Fatal(err)
	}
	res := e.visit(b, e.tdURL+PathLogin+appDomain, scriptbrowser.VisitOptions{Login: alice})
	if res.Status != http.StatusNotFound {
		t.Fatalf("a removed application still signs in: %d", res.Status)
	}
	e.appLogin(b, "new.acme.internal", "")
}

func TestAppTokenLifetimeBoundary(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.appLogin(e.browser(), appDomain, "").Query().Get("token")
	e.clk.Advance(AppTokenLifetime - time.Second)
	if _, err := e.td.VerifyAppToken(tok, appDomain); err != nil {
		t.Fatal(fmt.Errorf("a token inside its lifetime: %w", err))
	}
}
