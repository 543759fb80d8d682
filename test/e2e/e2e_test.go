//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// TestE2E_Enrollment: alice registers the device through the team domain
// in a real browser; agentd is connected; the registration is in the
// Secret Service and nowhere in clear on disk or in what agentd prints.
func TestE2E_Enrollment(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	if st := w.status(); st.State != ipcproto.StateUnregistered {
		w.fatalf("before enrollment agentd is %s, want unregistered", st.State)
	}
	st := enroll(w, b)
	if st.Registration == nil || st.Registration.User != aliceEmail || st.Registration.EnrolledVia != "browser" {
		w.fatalf("registration = %+v, want alice's, enrolled in a browser", st.Registration)
	}
	if st.Tunnel == nil || !st.Tunnel.Up || st.Tunnel.ProxyAddr != w.proxyAddr {
		w.fatalf("tunnel = %+v, want up with the local proxy on %s", st.Tunnel, w.proxyAddr)
	}

	raw, ok := w.secretLookup()
	if !ok {
		w.fatalf("secret-tool lookup service ztagent username registration found nothing; secret-tool search: %s", w.secretSearch())
	}
	var rec struct {
		DeviceID    string `json:"device_id"`
		DeviceToken string `json:"device_token"`
		PrivateKey  string `json:"wg_private_key"`
	}
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		w.fatalf("the Secret Service item is not the registration: %v", err)
	}
	if rec.DeviceID != st.Registration.DeviceID || rec.DeviceToken == "" || rec.PrivateKey == "" {
		w.fatalf("Secret Service item: device %q (want %q), token set %v, key set %v",
			rec.DeviceID, st.Registration.DeviceID, rec.DeviceToken != "", rec.PrivateKey != "")
	}

	// SEC5, SEC8: the secrets live in the keyring only.
	secrets := map[string]string{"device token": rec.DeviceToken, "WireGuard private key": rec.PrivateKey}
	files := 0
	err := filepath.WalkDir(w.agentState, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for what, s := range secrets {
			if strings.Contains(string(b), s) {
				w.fatalf("the %s is in clear in %s", what, p)
			}
		}
		return nil
	})
	if err != nil {
		w.fatalf("walk agentd's state dir: %v", err)
	}
	out := w.agent.out.String() + w.agent.errOut.String() + w.mustCtl("status", "--json") + w.mustCtl("session", "--json")
	for what, s := range secrets {
		if strings.Contains(out, s) {
			w.fatalf("the %s appears in agentd's output or agentctl's", what)
		}
	}
	t.Logf("registered device %s; %d file(s) in agentd's state dir, none holds a secret", rec.DeviceID, files)
}

// TestE2E_S3_ExpiryAndReauth: once the session is older than the policies'
// check_session, new flows are refused (the wiki's TCP connections, the git
// host's HTTP requests with the session-expired page); the browser gets
// exactly one refresh-identity URL, the user signs in, access returns.
func TestE2E_S3_ExpiryAndReauth(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	enroll(w, b)
	watch := w.startWatch(true)

	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki before expiry: %v, want 200 from the wiki", r)
	}
	// The git web UI is an Access app with a binding cookie: the Gateway
	// lets the request through and Access wants a browser login (no device
	// identity, S9).
	gitBefore := w.get(gitURL)
	if !isAccessLogin(w, gitBefore) {
		w.fatalf("git before expiry: %v, want Access's redirect to the team domain's login", gitBefore)
	}

	w.edged("clock", "advance", "2h")

	// The edge announces its new time: agentd says the session expired,
	// and when, before any connection is refused, and opens no browser
	// for it (the prompt comes when the user reaches the wiki).
	expired := waitState(w, watch, 0, ipcproto.StateReauthRequired)
	st := w.status()
	if st.Session == nil || st.Session.NextExpiry == nil || !st.Session.NextExpiry.Expired ||
		!strings.Contains(st.Message, "Git over HTTP") || !strings.Contains(st.Message, "agentctl reauth") {
		w.fatalf("status after the clock advance, before any flow: %+v (session %+v)", st, st.Session)
	}
	if out := w.mustCtl("status"); !strings.Contains(out, "expired") || strings.Contains(out, "signed in 0s ago") {
		w.fatalf("agentctl status after the clock advance:\n%s", out)
	}
	if got := w.opener.all(); len(got) != 0 {
		w.fatalf("the browser was opened before any flow was refused: %q", got)
	}

	// The wiki's policy is l4: the TCP connection is refused, and the
	// local proxy says why and what to do.
	if r := w.get(wikiURL); r.fromWiki() || r.code != http.StatusForbidden ||
		!strings.Contains(r.body, `ztagent proxy: session expired (policy "Company Wiki Network policy"): run agentctl reauth`) {
		w.fatalf("wiki after 2h (check_session 1h30m): %v, want the proxy's 403 naming the policy", r)
	}
	// The git policy is http: the Gateway answers with its page.
	if r := w.get(gitURL); r.code != http.StatusForbidden || !strings.Contains(r.body, "Session expired") ||
		!strings.Contains(r.body, "/cdn-cgi/access/refresh-identity") {
		w.fatalf("git after 2h (check_session 1h): %v, want 403 with the session-expired page", r)
	}

	u, err := w.opener.next(stepTimeout)
	if err != nil {
		w.fatalf("watch --open-browser: %v", err)
	}
	if !strings.HasPrefix(u, w.teamURL+"/cdn-cgi/access/refresh-identity") {
		w.fatalf("the browser was sent to %s, want the team domain's refresh-identity URL", u)
	}
	// prompt = "login": the IdP asks for the password although Chromium
	// signed in during enrollment.
	p := b.open(u)
	if p.Kind != "login" {
		w.fatalf("refresh-identity showed %v, want the IdP's login form (prompt=login)", p)
	}
	p = b.login(aliceEmail, alicePassword)
	if p.Title != "Session refreshed" {
		w.fatalf("after the login: %v, want the team domain's Session refreshed page", p)
	}
	waitState(w, watch, expired, ipcproto.StateConnected)

	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki after re-authentication: %v, want 200 from the wiki", r)
	}
	if r := w.get(gitURL); !isAccessLogin(w, r) {
		w.fatalf("git after re-authentication: %v, want Access's login redirect again", r)
	}
	// S16: one browse_to_url for both expired policies and every refused
	// flow, opened once.
	if got := w.opener.all(); len(got) != 1 {
		w.fatalf("the browser was sent to %d URLs %q, want exactly one", len(got), got)
	}
	if n := watch.out.count(func(s string) bool { return strings.Contains(s, "open in a browser") }); n != 1 {
		w.fatalf("agentctl watch saw %d browse_to_url events, want 1", n)
	}
}

// isAccessLogin reports whether r is Access's redirect of a browser without
// a session to the team domain's login for the app.
func isAccessLogin(w *world, r reply) bool {
	return r.code == http.StatusFound && strings.HasPrefix(r.location, w.teamURL+"/cdn-cgi/access/login/")
}

// TestE2E_S11_PromptLoginForcesForm: with the azureAD IdP's prompt =
// "login" the IdP asks for credentials although the browser holds an IdP
// session; with the prompt removed and the configuration reloaded,
// re-authentication completes silently.
func TestE2E_S11_PromptLoginForcesForm(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	enroll(w, b) // Chromium now holds alice's IdP session cookie
	_, seq := w.audit(0, "")

	p := reauth(w, b)
	if p.Kind != "login" {
		w.fatalf("re-authentication with prompt=login showed %v, want the IdP's login form", p)
	}
	recs, seq := w.audit(seq, "idp_authorize")
	if len(recs) != 1 || recs[0].Detail.Prompt != "login" || recs[0].Detail.Result != "form" {
		w.fatalf("audit of the IdP's authorize requests: %+v, want one with prompt login answered by the form", recs)
	}
	p = b.login(aliceEmail, alicePassword)
	if p.Title != "Session refreshed" {
		w.fatalf("after the login: %v, want Session refreshed", p)
	}
	finishReauth(w)

	w.editTerraform(`prompt         = "login"`, ``)
	if out := w.edged("reload"); !strings.Contains(out, "reloaded") {
		w.fatalf("edged reload: %q", out)
	}
	p = reauth(w, b)
	if p.Kind == "login" || p.Title != "Session refreshed" {
		w.fatalf("re-authentication without prompt showed %v, want Session refreshed without a form", p)
	}
	recs, _ = w.audit(seq, "idp_authorize")
	if len(recs) != 1 || recs[0].Detail.Prompt != "" || !recs[0].Detail.SessionReused {
		w.fatalf("audit of the IdP's authorize requests: %+v, want one without prompt answered by the browser session", recs)
	}
	finishReauth(w)
}

// TestE2E_S14_RevokeEmptiesKeyring: an administrator revokes the device;
// agentd reports revoked and deletes the registration from the keyring.
func TestE2E_S14_RevokeEmptiesKeyring(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	st := enroll(w, b)
	if _, ok := w.secretLookup(); !ok {
		w.fatalf("no registration in the Secret Service after enrollment")
	}
	watch := w.startWatch(false)

	w.edged("devices", "revoke", st.Registration.DeviceID)
	waitState(w, watch, 0, ipcproto.StateRevoked)
	if st := w.status(); st.State != ipcproto.StateRevoked {
		w.fatalf("agentctl status: %s, want revoked", st.State)
	}
	// Nothing announces the keyring deletion itself: look until it is
	// done, with a deadline.
	deadline := time.NewTimer(stepTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_, found := w.secretLookup()
		items := strings.TrimSpace(w.secretSearch())
		if !found && items == "" {
			break
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			w.fatalf("the registration is still in the Secret Service %v after revocation (lookup found %v, search: %q)", stepTimeout, found, items)
		}
	}
	// The tunnel is down: the local proxy is gone or refuses.
	if r, err := w.tryGet(wikiURL); err == nil && r.fromWiki() {
		w.fatalf("wiki after revocation: %v, want no access", r)
	}
	// Revoked, then registered again: agentctl register waits for the new
	// registration as it does from unregistered (it used to stop at once,
	// reading agentd's revoked state as the registration's failure).
	again := enroll(w, b)
	if again.Registration.DeviceID == st.Registration.DeviceID {
		w.fatalf("registered again with the revoked device's ID %s", again.Registration.DeviceID)
	}
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki after registering again: %v, want 200 from the wiki", r)
	}
}

// TestE2E_RestartKeepsRegistration: agentd and edged stop cleanly on
// SIGTERM and, started again on the same state, reconnect without a new
// login (REL5, REL6).
func TestE2E_RestartKeepsRegistration(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	before := enroll(w, b)
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki before the restart: %v, want 200 from the wiki", r)
	}

	w.stopBoth()
	w.startEdge()
	w.startAgent()
	watch := w.startWatch(true)
	waitState(w, watch, 0, ipcproto.StateConnected)

	after := w.status()
	if after.Registration == nil || after.Registration.DeviceID != before.Registration.DeviceID {
		w.fatalf("after the restart the registration is %+v, want device %s", after.Registration, before.Registration.DeviceID)
	}
	if after.Session == nil || !after.Session.AuthTime.Equal(before.Session.AuthTime) {
		w.fatalf("after the restart the session is %+v, want auth_time %v (no new login)", after.Session, before.Session.AuthTime)
	}
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki after the restart: %v, want 200 from the wiki", r)
	}
	if got := w.opener.all(); len(got) != 0 {
		w.fatalf("the restart sent the browser to %q, want no login", got)
	}
}

// S13: one user per device. While alice's registration stands, a new
// registration is refused naming her; after `agentctl logout` (the
// example's device profile allows leaving) bob registers the device.
func TestE2E_S13_OneUserPerDevice(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	enroll(w, b)
	// w.ctl's error carries agentctl's stderr.
	if _, err := w.ctl("register", "--no-browser", "--wait", "0"); err == nil || !strings.Contains(err.Error(), aliceEmail) || !strings.Contains(err.Error(), "agentctl logout") {
		w.fatalf("a second registration while alice's stands: %v; want a refusal naming %s and saying what to do", err, aliceEmail)
	}
	w.mustCtl("logout")
	if st := w.status(); st.State != ipcproto.StateUnregistered || st.Registration != nil {
		w.fatalf("after logout: %s %+v, want unregistered", st.State, st.Registration)
	}
	if _, found := w.secretLookup(); found {
		w.fatalf("the registration is still in the Secret Service after logout")
	}
	st := enrollAs(w, b, bobEmail, bobPassword)
	if st.Registration.User != bobEmail {
		w.fatalf("after bob's enrollment the device belongs to %s", st.Registration.User)
	}
}

// S7 and S6: a TCP connection opened through the local proxy (HTTP
// CONNECT to the wiki) keeps working after the session expires, while a
// new connection to the same place is refused; names keep resolving
// through the tunnel during the expiry (the git host still answers, with
// the Gateway's page).
func TestE2E_S7_OpenConnectionSurvives(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	enroll(w, b)

	conn, err := net.DialTimeout("tcp", w.proxyAddr, stepTimeout)
	if err != nil {
		w.fatalf("dial the local proxy: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(stepTimeout))
	rd := bufio.NewReader(conn)
	fmt.Fprintf(conn, "CONNECT wiki.acme.internal:80 HTTP/1.1\r\nHost: wiki.acme.internal:80\r\n\r\n")
	resp, err := http.ReadResponse(rd, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != http.StatusOK {
		w.fatalf("CONNECT through the proxy: %v %v", resp, err)
	}
	ask := func(when string) {
		t.Helper()
		_ = conn.SetDeadline(time.Now().Add(stepTimeout))
		fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: wiki.acme.internal\r\n\r\n", when)
		r, err := http.ReadResponse(rd, nil)
		if err != nil {
			w.fatalf("%s: the open connection failed: %v", when, err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK || !strings.Contains(string(body), "wiki") {
			w.fatalf("%s: the open connection got %d %q", when, r.StatusCode, body)
		}
	}
	ask("before")
	w.edged("clock", "advance", "2h")
	if r := w.get(wikiURL); r.fromWiki() {
		w.fatalf("a new connection to the wiki after 2h was allowed: %v", r)
	}
	ask("after-expiry")
	if r := w.get(gitURL); r.code != http.StatusForbidden {
		w.fatalf("git during the expiry: %v, want the Gateway's 403 (its name resolved through the tunnel)", r)
	}
}

// S12: a group change in the simulator file, reloaded, reaches the device
// when alice re-authenticates: watch shows the new groups in
// session_refreshed.
func TestE2E_S12_GroupChangeAfterRefreshIdentity(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	enroll(w, b)
	sim, err := os.ReadFile(w.simFile)
	if err != nil {
		w.fatalf("read the simulator file: %v", err)
	}
	changed := strings.Replace(string(sim), `groups   = ["engineering"]`, `groups   = ["engineering", "sre"]`, 1)
	if changed == string(sim) {
		w.fatalf("the example simulator file changed shape; update the test")
	}
	if err := os.WriteFile(w.simFile, []byte(changed), 0o600); err != nil {
		w.fatalf("write the simulator file: %v", err)
	}
	if out := w.edged("reload"); !strings.Contains(out, "reloaded") {
		w.fatalf("edged reload: %q", out)
	}
	watch := w.startWatch(false)
	p := reauth(w, b)
	if p.Kind == "login" {
		p = b.login(aliceEmail, alicePassword)
	}
	if p.Title != "Session refreshed" || !strings.Contains(p.Text, "sre") {
		w.fatalf("after re-authentication: %v, want Session refreshed listing the sre group", p)
	}
	finishReauth(w)
	if _, _, err := watch.waitLine(0, stepTimeout, func(s string) bool {
		return strings.Contains(s, "session refreshed") && strings.Contains(s, "sre")
	}); err != nil {
		w.fatalf("watch never showed a session_refreshed with the new group: %v", err)
	}
}
