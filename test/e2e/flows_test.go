//go:build linux

package e2e

import (
	"strings"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// enroll registers the device as alice the way a person does: agentctl
// register prints the login URL, Chromium opens it, alice signs in at the
// IdP and confirms the registration on the team domain. It returns the
// status once agentd is connected.
func enroll(w *world, b *browser) ipcproto.Status {
	w.t.Helper()
	return enrollAs(w, b, aliceEmail, alicePassword)
}

// enrollAs is enroll for another user of the example's IdP.
func enrollAs(w *world, b *browser, email, password string) ipcproto.Status {
	w.t.Helper()
	reg := w.ctlBackground("agentctl register", "register", "--no-browser", "--wait", "2m")
	u, _, err := reg.waitLine(0, stepTimeout, func(s string) bool {
		return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
	})
	if err != nil {
		w.fatalf("agentctl register printed no URL: %v", err)
	}
	if !strings.HasPrefix(u, w.teamURL+"/warp?") {
		w.fatalf("agentctl register printed %s, want the team domain's /warp URL", u)
	}
	p := b.open(u)
	if p.Kind != "login" {
		w.fatalf("enrollment showed %v, want the IdP's login form", p)
	}
	p = b.login(email, password)
	if p.Kind != "consent" || !strings.Contains(p.Text, email) {
		w.fatalf("after the login: %v, want the enrollment confirmation naming %s", p, email)
	}
	b.confirm()
	if err := reg.wait(stepTimeout); err != nil {
		w.fatalf("agentctl register: %v (browser at %v)", err, b.current())
	}
	st := w.status()
	if st.State != ipcproto.StateConnected {
		w.fatalf("after enrollment agentd is %s (%s), want connected", st.State, st.Message)
	}
	if st.Registration == nil || st.Session == nil {
		w.fatalf("connected without a registration or session: %+v", st)
	}
	return st
}

// reauth runs agentctl reauth, which opens the refresh-identity URL
// through the xdg-open shim; Chromium opens it and the page it lands on is
// returned. The reauth process is left waiting for finishReauth.
func reauth(w *world, b *browser) page {
	w.t.Helper()
	// The edge's clock moves on a minute first, so that the new auth_time
	// is after the last one even when both logins fall in the same second;
	// agentctl reauth waits for a later auth_time. A minute expires no
	// policy of the example.
	w.edged("clock", "advance", "1m")
	w.reauthProc = w.ctlBackground("agentctl reauth", "reauth", "--wait", "1m")
	u, err := w.opener.next(stepTimeout)
	if err != nil {
		w.fatalf("agentctl reauth: %v", err)
	}
	if !strings.HasPrefix(u, w.teamURL+"/cdn-cgi/access/refresh-identity") {
		w.fatalf("agentctl reauth opened %s, want the refresh-identity URL", u)
	}
	return b.open(u)
}

// finishReauth waits for agentctl reauth to report success; agentd must
// be connected with the new session.
func finishReauth(w *world) {
	w.t.Helper()
	if err := w.reauthProc.wait(stepTimeout); err != nil {
		w.fatalf("agentctl reauth: %v", err)
	}
	if st := w.status(); st.State != ipcproto.StateConnected {
		w.fatalf("after re-authentication agentd is %s (%s), want connected", st.State, st.Message)
	}
}

// startWatch runs agentctl watch (with --open-browser when open) and
// waits for its first line, the snapshot: from then on it sees every
// event.
func (w *world) startWatch(open bool) *proc {
	w.t.Helper()
	args := []string{"watch"}
	if open {
		args = append(args, "--open-browser")
	}
	p := w.ctlBackground("agentctl "+strings.Join(args, " "), args...)
	if _, _, err := p.waitLine(0, startTimeout, func(s string) bool { return stateOf(s) != "" }); err != nil {
		w.fatalf("agentctl watch printed no snapshot: %v", err)
	}
	return p
}

// waitState waits until agentctl watch reports state (a snapshot or a
// transition) at line from or later, and returns the index after it.
func waitState(w *world, watch *proc, from int, state ipcproto.State) int {
	w.t.Helper()
	_, next, err := watch.waitLine(from, stepTimeout, func(s string) bool { return stateOf(s) == string(state) })
	if err != nil {
		w.fatalf("agentctl watch did not report state %s: %v", state, err)
	}
	return next
}

// stateOf is the state a line of agentctl watch reports ("HH:MM:SS  state
// S: message" or "HH:MM:SS  state A → B: message"), or "".
func stateOf(line string) string {
	_, rest, ok := strings.Cut(line, "  state ")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, ": ")
	if _, to, ok := strings.Cut(rest, " → "); ok {
		rest = to
	}
	return strings.TrimSpace(rest)
}
