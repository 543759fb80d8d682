package access

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
)

// recorder keeps every response the team domain writes: status line,
// headers (Location, Set-Cookie) and body.
type recorder struct {
	mu  sync.Mutex
	out strings.Builder
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, r)
		rec.mu.Lock()
		fmt.Fprintf(&rec.out, "%d %v\n%s\n", rr.Code, rr.Header(), rr.Body.String())
		rec.mu.Unlock()
		for k, v := range rr.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rr.Code)
		_, _ = w.Write(rr.Body.Bytes())
	})
}

func (rec *recorder) String() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.out.String()
}

// TestCanarySecretsStayOut drives every flow, failures included, and greps
// the team domain's pages and headers, the logs, the audit events and the
// logins for the passwords and the client secret; the logs must not hold
// the enrollment code, the IdP's code or the application token either.
func TestCanarySecretsStayOut(t *testing.T) {
	e := newEnv(t, envOptions{prompt: "login"})
	rec := &recorder{}
	e.tdSrv.set(rec.wrap(e.td.Handler()))
	b := e.browser()

	res := e.visit(b, e.warpURL(agentCB, "s", "v"+strings.Repeat("y", 50)), scriptbrowser.VisitOptions{
		Login: &scriptbrowser.Credentials{Email: "alice@acme.example", Password: bobPassword}})
	if res.ErrorText == "" {
		t.Fatal("a wrong password was accepted")
	}
	code, verifier, enrolled := e.enroll(b, alice)
	if _, err := e.td.RedeemEnrollment(context.Background(), code, verifier); err != nil {
		t.Fatal(err)
	}
	if _, err := e.td.RedeemEnrollment(context.Background(), code, alicePassword); err == nil || strings.Contains(err.Error(), alicePassword) {
		t.Fatalf("reuse with a password as verifier: %v", err)
	}
	e.refresh(b, alice)
	to := e.appLogin(b, appDomain, "")
	token := to.Query().Get("token")
	if _, err := e.td.VerifyAppToken(token+"x", appDomain); err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("tampered token: %v", err)
	}
	e.setFailOn(func(Login) error { return errors.New("registry unavailable") })
	if res := e.visit(b, e.td.RefreshIdentityURL(), scriptbrowser.VisitOptions{Login: alice}); res.Status != http.StatusInternalServerError {
		t.Fatalf("failing OnLogin: %d", res.Status)
	}

	var idpCodes []string
	for _, u := range enrolled.Visited {
		if strings.HasPrefix(u, e.tdURL+PathCallback) {
			idpCodes = append(idpCodes, queryOf(t, u).Get("code"))
		}
	}
	if len(idpCodes) != 1 || idpCodes[0] == "" {
		t.Fatalf("no IdP code seen in %v", enrolled.Visited)
	}

	pages := rec.String()
	logs := e.logs.String()
	audit := fmt.Sprintf("%+v %#v", e.events(), e.events())
	logins := fmt.Sprintf("%+v %#v", e.loginsSoFar(), e.loginsSoFar())
	if !strings.Contains(logs, "alice@acme.example") || !strings.Contains(pages, "Session refreshed") {
		t.Fatal("the canary test captured nothing")
	}
	for _, where := range []struct{ name, text string }{{"pages", pages}, {"logs", logs}, {"audit", audit}, {"logins", logins}} {
		for _, c := range []string{alicePassword, bobPassword, clientSecret} {
			if strings.Contains(where.text, c) {
				t.Errorf("%s contain the secret %q", where.name, c)
			}
		}
	}
	for _, c := range []string{code, verifier, token, idpCodes[0]} {
		if strings.Contains(logs, c) || strings.Contains(audit, c) {
			t.Errorf("logs or audit contain a one-time credential %q", c)
		}
	}
}
