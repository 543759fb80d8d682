package idp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// browserFrom is a browser whose connections come from the loopback
// address local (127.0.0.2, …), which the provider counts as another
// client.
func (e *env) browserFrom(local string) *browser {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &browser{e: e, c: &http.Client{
		Transport:     tr,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// guess posts wrong passwords for email until n have been made, opening a
// new form whenever one is used up, and returns the last page.
func guess(t *testing.T, b *browser, email string, n int) page {
	t.Helper()
	var pg page
	id := ""
	for i := 0; i < n; i++ {
		if id == "" {
			id = formID(t, b.authorize(authParams("prompt", "login")))
		}
		pg = b.login(id, email, "wrong-guess")
		if !strings.Contains(pg.body, `name="request"`) {
			id = ""
		}
	}
	return pg
}

func wantLocked(t *testing.T, pg page, wait string) {
	t.Helper()
	if pg.status != http.StatusTooManyRequests || pg.location != "" || !strings.Contains(pg.body, "Wait "+wait+" and try again") {
		t.Fatalf("want a lockout of %s: %d %q %q", wait, pg.status, pg.location, pg.body)
	}
}

// TestWrongPasswordsLockTheAccountOut reproduces issue 12 item 15: 1,000
// wrong passwords in 75 seconds, and then the right one worked. Now the
// fifth wrong one locks the account out from that client for a minute,
// the right password is refused with the wait while it lasts, and works
// after it.
func TestWrongPasswordsLockTheAccountOut(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := 1; i < freeFailures; i++ {
		if pg := guess(t, b, "alice@acme.example", 1); pg.status != http.StatusOK || !strings.Contains(pg.body, "not correct") {
			t.Fatalf("wrong password %d: %d %q", i, pg.status, pg.body)
		}
	}
	wantLocked(t, guess(t, b, "alice@acme.example", 1), "1 minute")
	// The guesser goes on, as the probe did: nothing is checked.
	wantLocked(t, guess(t, b, "alice@acme.example", 995), "1 minute")

	id := formID(t, b.authorize(authParams()))
	e.clk.Advance(lockoutBase - 10*time.Second)
	wantLocked(t, b.login(id, "ALICE@acme.example", alicePassword), "10 seconds")
	e.clk.Advance(10 * time.Second)
	codeFrom(t, b.login(id, "alice@acme.example", alicePassword), accessCB, "st-123")

	var locks, lockedOut int
	for _, ev := range e.events() {
		switch {
		case ev.Type == "login_locked":
			locks++
			if ev.User != "alice@acme.example" || ev.Client != "127.0.0.1" || !ev.LockedUntil.Equal(epoch.Add(lockoutBase)) {
				t.Errorf("lockout record %+v", ev)
			}
		case ev.Type == "login_failed" && ev.Result == "locked_out":
			lockedOut++
		}
	}
	if locks != 1 || lockedOut != 996 {
		t.Fatalf("audit: %d lockouts, %d refusals during one; want 1 and 996", locks, lockedOut)
	}
}

// TestLockoutBacksOffAndIsPerClient: each wrong password after a lockout
// doubles the next one, up to lockoutMax; a right password resets it; a
// user at another client is not locked out by the guesser; and an unknown
// account is locked out just like a real one, so that a lockout says
// nothing about which accounts exist.
func TestLockoutBacksOffAndIsPerClient(t *testing.T) {
	e := newEnv(t)
	attacker, user := e.browser(), e.browserFrom("127.0.0.2")
	wantLocked(t, guess(t, attacker, "alice@acme.example", freeFailures), "1 minute")
	for _, wait := range []string{"2 minutes", "4 minutes", "8 minutes", "15 minutes", "15 minutes"} {
		e.clk.Advance(lockoutMax) // past any lockout so far
		wantLocked(t, guess(t, attacker, "alice@acme.example", 1), wait)
	}
	// Another client signs alice in meanwhile.
	codeFrom(t, user.login(formID(t, user.authorize(authParams("prompt", "login"))), "alice@acme.example", alicePassword), accessCB, "st-123")

	// After the wait, the right password resets the count.
	e.clk.Advance(lockoutMax)
	codeFrom(t, attacker.login(formID(t, attacker.authorize(authParams("prompt", "login"))), "alice@acme.example", alicePassword), accessCB, "st-123")
	if pg := guess(t, attacker, "alice@acme.example", 1); pg.status != http.StatusOK {
		t.Fatalf("a wrong password after a successful login: %d", pg.status)
	}

	wantLocked(t, guess(t, attacker, "nobody@acme.example", freeFailures), "1 minute")
}

// TestSprayingManyAccountsLocksTheClient: one wrong password for each of
// many accounts (a spray) locks the client out of every account once it
// has made freeClientFailures of them, other clients not.
func TestSprayingManyAccountsLocksTheClient(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := 1; i < freeClientFailures; i++ {
		if pg := guess(t, b, fmt.Sprintf("user%d@acme.example", i), 1); pg.status != http.StatusOK {
			t.Fatalf("spray %d: %d", i, pg.status)
		}
	}
	wantLocked(t, guess(t, b, "last@acme.example", 1), "1 minute")
	wantLocked(t, b.login(formID(t, b.authorize(authParams())), "bob@acme.example", bobPassword), "1 minute")
	other := e.browserFrom("127.0.0.3")
	codeFrom(t, other.login(formID(t, other.authorize(authParams())), "bob@acme.example", bobPassword), accessCB, "st-123")
	e.clk.Advance(lockoutBase)
	codeFrom(t, b.login(formID(t, b.authorize(authParams())), "bob@acme.example", bobPassword), accessCB, "st-123")
}

// TestFloodOfLoginFormsDoesNotRefuseSignIn: like the team domain's pending
// sign-ins (issue 12 item 9), the IdP's login forms can be opened by
// anyone; a flood that fills the table makes room with its own oldest
// forms instead of refusing everyone with "wait a minute".
func TestFloodOfLoginFormsDoesNotRefuseSignIn(t *testing.T) {
	e := newEnv(t)
	u := e.srv.URL + PathAuthorize + "?" + authParams().Encode()
	for i := range maxPending + 1 {
		w := httptest.NewRecorder()
		e.p.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, u, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("form %d: %d %q", i+1, w.Code, w.Body.String())
		}
	}
	b := e.browser()
	codeFrom(t, b.login(formID(t, b.authorize(authParams())), "alice@acme.example", alicePassword), accessCB, "st-123")
	e.p.mu.Lock()
	n := len(e.p.pending)
	e.p.mu.Unlock()
	if n > maxPending {
		t.Fatalf("%d login forms, over the bound %d", n, maxPending)
	}
}
