//go:build linux

package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// TestE2E_DeviceCodeRegistration: agentctl register --device-code prints a
// code and the team domain's verification URL; a browser that never
// touches agentd's loopback (there is none in this flow) opens the URL,
// has the code typed into the page, signs in at the IdP and confirms a
// page naming the device and the code; agentd, polling the edge, registers
// and connects.
func TestE2E_DeviceCodeRegistration(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	reg := w.ctlBackground("agentctl register --device-code", "register", "--device-code", "--wait", "2m")
	verify, at, err := reg.waitLine(0, stepTimeout, func(s string) bool { return strings.HasPrefix(s, w.teamURL+"/cdn-cgi/access/device") })
	if err != nil {
		w.fatalf("agentctl register --device-code printed no verification URL: %v", err)
	}
	line, _, err := reg.waitLine(at, stepTimeout, func(s string) bool { return strings.HasPrefix(s, "and enter the code ") })
	if err != nil {
		w.fatalf("agentctl register --device-code printed no code: %v", err)
	}
	code := strings.TrimPrefix(line, "and enter the code ")
	if len(code) != 9 || code[4] != '-' {
		w.fatalf("user code %q, want XXXX-XXXX", code)
	}
	if p := b.open(verify); p.Title != "Register a device" {
		w.fatalf("verification page: %v", p)
	}
	typeCode(w, b, code)
	if p := b.current(); p.Kind != "login" {
		w.fatalf("after the code: %v, want the IdP's login form", p)
	}
	if p := b.login(aliceEmail, alicePassword); p.Kind != "consent" || !strings.Contains(p.Text, code) || !strings.Contains(p.Text, aliceEmail) {
		w.fatalf("after the login: %v, want the confirmation naming the code and %s", p, aliceEmail)
	}
	if p := b.confirm(); p.Title != "Device approved" {
		w.fatalf("after confirming: %v, want Device approved", p)
	}
	if err := reg.wait(stepTimeout); err != nil {
		w.fatalf("agentctl register --device-code: %v", err)
	}
	st := w.status()
	if st.State != ipcproto.StateConnected || st.Registration == nil || st.Registration.User != aliceEmail || st.Registration.EnrolledVia != "device_code" {
		w.fatalf("after the device code registration: %+v", st)
	}
	if out := w.mustCtl("status"); !strings.Contains(out, "registered") || !strings.Contains(out, "with a device code") {
		w.fatalf("agentctl status does not say the device enrolled with a device code:\n%s", out)
	}
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki after the device code registration: %v", r)
	}
}

// typeCode types the user code into the verification page like a person,
// in lower case and without the dash, and submits it.
func typeCode(w *world, b *browser, code string) {
	w.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	typed := strings.ToLower(strings.ReplaceAll(code, "-", ""))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("user_code")), chromedp.SendKeys(chromedp.ID("user_code"), typed)); err != nil {
		w.fatalf("Chromium: type the code: %v", err)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("submit-code"))); err != nil {
		w.fatalf("Chromium: submit the code: %v", err)
	}
}

// TestE2E_ReauthWithDeviceCode: after the session expired by the edge's
// clock, agentctl reauth --device-code prints a code and the verification
// URL; bob signing in with it is refused (it is alice's device) and the
// command fails naming alice; the second code, completed by alice in
// Chromium, refreshes the session with no loopback and no consent page,
// and the wiki answers again.
func TestE2E_ReauthWithDeviceCode(t *testing.T) {
	w := newWorld(t)
	b := startBrowser(w)
	enroll(w, b)
	w.edged("clock", "advance", "2h")
	if r := w.get(wikiURL); r.fromWiki() {
		w.fatalf("the wiki answered after its session expired: %v", r)
	}

	codeOf := func(p *proc) (verify, code string) {
		verify, at, err := p.waitLine(0, stepTimeout, func(s string) bool { return strings.HasPrefix(s, w.teamURL+"/cdn-cgi/access/device") })
		if err != nil {
			w.fatalf("agentctl reauth --device-code printed no verification URL: %v", err)
		}
		line, _, err := p.waitLine(at, stepTimeout, func(s string) bool { return strings.HasPrefix(s, "and enter the code ") })
		if err != nil {
			w.fatalf("agentctl reauth --device-code printed no code: %v", err)
		}
		return verify, strings.TrimPrefix(line, "and enter the code ")
	}

	first := w.ctlBackground("agentctl reauth --device-code (bob)", "reauth", "--device-code", "--wait", "2m")
	verify, code := codeOf(first)
	bob := startBrowser(w)
	bob.open(verify)
	typeCode(w, bob, code)
	if p := bob.login(bobEmail, bobPassword); p.Title != "Not your device" || !strings.Contains(p.Text, aliceEmail) {
		w.fatalf("bob with alice's device code: %v", p)
	}
	if err := first.wait(stepTimeout); err == nil {
		w.fatalf("agentctl reauth --device-code succeeded after bob signed in")
	}
	if first.errOut.count(func(s string) bool { return strings.Contains(s, "someone other than "+aliceEmail+" signed in") }) == 0 {
		w.fatalf("agentctl reauth --device-code did not say who must sign in:\n%s", first.tail(20))
	}

	second := w.ctlBackground("agentctl reauth --device-code", "reauth", "--device-code", "--wait", "2m")
	verify, code = codeOf(second)
	b.open(verify)
	typeCode(w, b, code)
	if p := b.login(aliceEmail, alicePassword); p.Title != "Session refreshed" {
		w.fatalf("alice with her device code: %v", p)
	}
	if err := second.wait(stepTimeout); err != nil {
		w.fatalf("agentctl reauth --device-code: %v", err)
	}
	if st := w.status(); st.State != ipcproto.StateConnected {
		w.fatalf("after the re-authentication: %+v", st)
	}
	if r := w.get(wikiURL); !r.fromWiki() {
		w.fatalf("wiki after the re-authentication: %v", r)
	}
}
