package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/testenv/ruleid"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Bare "agentctl settings" shows the settings, as "settings get" does,
// instead of the help.
func TestBareSettingsPrintsSettings(t *testing.T) {
	sock := startDaemon(t, &fakeAgent{})
	bare, errOut, code := agentctl(t, sock, "settings")
	if code != 0 || !strings.Contains(bare, "proxy-addr  127.0.0.1:40000") || strings.Contains(bare, "Usage:") {
		t.Fatalf("settings: exit %d\n%s%s", code, bare, errOut)
	}
	get, _, _ := agentctl(t, sock, "settings", "get")
	if bare != get {
		t.Fatalf("settings printed %q, settings get %q", bare, get)
	}
	out, _, code := agentctl(t, sock, "settings", "--json")
	var s ipcproto.Settings
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.Mode != "proxy" {
		t.Fatalf("settings --json: exit %d %q", code, out)
	}
	if _, errOut, code := agentctl(t, sock, "settings", "mode"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("settings mode: exit %d %q", code, errOut)
	}
}

// interruptLogin runs args and interrupts agentctl (as Ctrl-C does) once
// it has printed the URL: the test's "browser" cancels the context.
func interruptLogin(t *testing.T, f *fakeAgent, args ...string) (string, string, int) {
	t.Helper()
	sock := startDaemon(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, open: func(context.Context, string) error {
		cancel()
		return nil
	}}
	code := runApp(ctx, a, append(args, "--wait", "10m", "--socket", sock))
	return out.String(), errb.String(), code
}

func TestLoginInterruptedSaysSo(t *testing.T) {
	const u = "http://acme.localhost:8781/warp?state=x"
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateRegistering}, authURL: u}
	out, errOut, code := interruptLogin(t, f, "register")
	if code != exitFailure {
		t.Fatalf("interrupted register: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, u) {
		t.Errorf("the URL was not printed before the interrupt:\n%s", out)
	}
	for _, want := range []string{"register interrupted", "agentd is registering", "still registers this device", "agentctl status"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("interrupted register does not say %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "did not complete within") {
		t.Errorf("an interrupt is reported as a timeout:\n%s", errOut)
	}

	f = &fakeAgent{status: ipcproto.Status{State: ipcproto.StateReauthRequired}, authURL: u}
	_, errOut, code = interruptLogin(t, f, "reauth")
	if code != exitFailure || !strings.Contains(errOut, "reauth interrupted") || !strings.Contains(errOut, "agentd is reauth_required") ||
		strings.Contains(errOut, "did not complete within") {
		t.Fatalf("interrupted reauth: exit %d\n%s", code, errOut)
	}
}

// A real timeout keeps its message.
func TestLoginTimeoutSaysSo(t *testing.T) {
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateRegistering}, authURL: "http://acme.localhost:8781/warp"}
	sock := startDaemon(t, f)
	_, errOut, code := agentctl(t, sock, "register", "--no-browser", "--wait", "50ms")
	if code != exitFailure || !strings.Contains(errOut, "register did not complete within 50ms (agentd is registering)") ||
		strings.Contains(errOut, "interrupted") {
		t.Fatalf("register timing out: exit %d\n%s", code, errOut)
	}
}

func TestWhyDestination(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"wiki.acme.internal:80", "wiki.acme.internal:80"},
		{"http://wiki.acme.internal/", "wiki.acme.internal:80"},
		{"https://wiki.acme.internal/page?x=1", "wiki.acme.internal:443"},
		{"HTTPS://wiki.acme.internal", "wiki.acme.internal:443"},
		{"http://wiki.acme.internal:8080/", "wiki.acme.internal:8080"},
		{"http://[fd00::10]/", "[fd00::10]:80"},
		{"[fd00::10]:443", "[fd00::10]:443"},
		{"10.0.0.10:22", "10.0.0.10:22"},
	} {
		got, err := whyDestination(c.in)
		if err != nil || got != c.want {
			t.Errorf("whyDestination(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"wiki.acme.internal", "has no port: add one (wiki.acme.internal:80) or give a URL (http://wiki.acme.internal/)"},
		{"fd00::10", "add one ([fd00::10]:80)"},
		{"[fd00::10]", "add one ([fd00::10]:80)"},
		{"wiki.acme.internal:http", `the port "http" is not a number`},
		{"wiki.acme.internal:0", "from 1 to 65535"},
		{"http://wiki.acme.internal:99999/", "from 1 to 65535"},
		{":80", "has no host"},
		{"http:///path", "has no host"},
		{"ssh://git.acme.internal/", "http:// and https:// URLs only"},
	} {
		_, err := whyDestination(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("whyDestination(%q): %v; want an error with %q", c.in, err, c.want)
		}
	}
}

// why with a URL asks agentd about the connection the browser would make.
func TestWhyTakesAURL(t *testing.T) {
	f := &fakeAgent{}
	sock := startDaemon(t, f)
	out, errOut, code := agentctl(t, sock, "why", "http://wiki.acme.internal/")
	if code != 0 || !strings.Contains(out, "Decision: allow") {
		t.Fatalf("why URL: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = agentctl(t, sock, "why", "wiki.acme.internal")
	if code != exitUsage || !strings.Contains(errOut, "has no port") {
		t.Fatalf("why without a port: exit %d %q", code, errOut)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.explained) != 1 || f.explained[0] != "wiki.acme.internal:80" {
		t.Fatalf("agentd was asked about %q; want only wiki.acme.internal:80", f.explained)
	}
}

func TestSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 42 * time.Minute: "42m", time.Hour + 2*time.Minute + 10*time.Second: "1h2m",
		2 * time.Hour: "2h", -3 * time.Minute: "3m", 50 * time.Hour: "50h",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
}

// status shows the session's age and the next expiry by the edge's clock;
// --json carries the timestamps.
func TestStatusShowsSessionClock(t *testing.T) {
	// The edge's clock is two days ahead of the device's, as the
	// simulator's can be: what status shows must come from it alone.
	edgeNow := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	at := edgeNow.Add(42 * time.Minute)
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateConnected, Session: &ipcproto.SessionClock{
		AuthTime: edgeNow.Add(-62 * time.Minute), ServerTime: edgeNow,
		NextExpiry: &ipcproto.NextExpiry{PolicyName: "Company wiki", ExpiresAt: at},
	}}}
	sock := startDaemon(t, f)
	out, _, code := agentctl(t, sock, "status")
	want := "signed in 1h2m ago by the edge's clock; next expiry: Company wiki in 42m (at " + edgeTime(at, edgeNow) + ")"
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("status: exit %d; want %q in\n%s", code, want, out)
	}
	if !strings.HasSuffix(edgeTime(at, edgeNow), " UTC") {
		t.Errorf("the expiry is not shown in UTC: %s", edgeTime(at, edgeNow))
	}

	out, _, _ = agentctl(t, sock, "status", "--json")
	var st struct {
		Session struct {
			AuthTime   time.Time `json:"auth_time"`
			ServerTime time.Time `json:"server_time"`
			NextExpiry struct {
				PolicyName string    `json:"policy_name"`
				ExpiresAt  time.Time `json:"expires_at"`
			} `json:"next_expiry"`
		} `json:"session"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || !st.Session.ServerTime.Equal(edgeNow) ||
		!st.Session.AuthTime.Equal(edgeNow.Add(-62*time.Minute)) || !st.Session.NextExpiry.ExpiresAt.Equal(at) {
		t.Fatalf("status --json lacks the timestamps (%v):\n%s", err, out)
	}

	f.mu.Lock()
	f.status.Session.NextExpiry = &ipcproto.NextExpiry{PolicyName: "Git over HTTP", ExpiresAt: edgeNow.Add(-3 * time.Minute), Expired: true}
	f.mu.Unlock()
	out, _, _ = agentctl(t, sock, "status")
	if !strings.Contains(out, "Git over HTTP expired 3m ago: run 'agentctl reauth'") || strings.Contains(out, "next expiry") {
		t.Fatalf("status with an expired session:\n%s", out)
	}

	f.mu.Lock()
	f.status.Session.NextExpiry = nil
	f.mu.Unlock()
	out, _, _ = agentctl(t, sock, "status")
	if !strings.Contains(out, "signed in 1h2m ago by the edge's clock; no session limit") || strings.Contains(out, "expir") {
		t.Fatalf("status without a limit:\n%s", out)
	}

	// Before agentd heard from the edge, the times are zero: no age
	// counted from the year 1.
	f.mu.Lock()
	f.status.Session = &ipcproto.SessionClock{}
	f.mu.Unlock()
	out, _, _ = agentctl(t, sock, "status")
	if !strings.Contains(out, "sign-in time not known yet") || strings.Contains(out, "ago") {
		t.Fatalf("status with no session times:\n%s", out)
	}
}

// session lists the policies that do not apply to the user apart, and
// --json carries applies_to_user.
func TestSessionMarksPoliciesNotForYou(t *testing.T) {
	now := time.Now().UTC()
	yes, no := true, false
	f := &fakeAgent{session: &ipcproto.Session{AuthTime: now.Add(-time.Hour), ServerTime: now, Gateway: []ipcproto.PolicyExpiry{
		{PolicyID: "wiki", Name: "Company Wiki Network policy", Filter: "l4", Duration: "1h30m0s", ExpiresAt: now.Add(30 * time.Minute), AppliesToUser: &yes},
		{PolicyID: "git", Name: "Git over HTTP", Filter: "http", Duration: "1h0m0s", ExpiresAt: now, Expired: true, AppliesToUser: &no},
	}}}
	sock := startDaemon(t, f)
	out, _, code := agentctl(t, sock, "session")
	if code != 0 {
		t.Fatalf("session: exit %d\n%s", code, out)
	}
	mine, others, ok := strings.Cut(out, "do not apply to you")
	if !ok || !strings.Contains(mine, "Company Wiki Network policy") || strings.Contains(mine, "Git over HTTP") ||
		!strings.Contains(others, "Git over HTTP") || strings.Contains(out, "reauth") {
		t.Fatalf("session does not set apart the policy that does not apply:\n%s", out)
	}

	out, _, _ = agentctl(t, sock, "session", "--json")
	var s struct {
		Gateway []map[string]any `json:"gateway"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.Gateway) != 2 ||
		s.Gateway[0]["applies_to_user"] != true || s.Gateway[1]["applies_to_user"] != false {
		t.Fatalf("session --json does not carry applies_to_user (%v):\n%s", err, out)
	}

	// None applies: nothing limits the user.
	f.mu.Lock()
	f.session.Gateway[0].AppliesToUser = &no
	f.mu.Unlock()
	out, _, _ = agentctl(t, sock, "session")
	if !strings.Contains(out, "No Gateway policy limits your session.") || !strings.Contains(out, "Company Wiki Network policy") {
		t.Fatalf("session with no policy for the user:\n%s", out)
	}
}

// Every command's help, and the errors and hints agentctl itself writes,
// are free of rule IDs.
func TestNoRuleIDsInUserText(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk((&app{}).rootCmd(), nil)
	if len(paths) < 13 {
		t.Fatalf("found %d commands: %v", len(paths), paths)
	}
	check := func(what, text string) {
		t.Helper()
		if m := ruleid.Find(text); m != "" {
			t.Errorf("%s shows the rule ID %q:\n%s", what, m, text)
		}
	}
	for _, p := range paths {
		var o, e bytes.Buffer
		run(context.Background(), append(p, "--help"), &o, &e)
		out, errOut := o.String(), e.String()
		if !strings.Contains(out, "Usage:") {
			t.Errorf("agentctl %s --help printed no help:\n%s%s", strings.Join(p, " "), out, errOut)
		}
		check("agentctl "+strings.Join(p, " ")+" --help", out+errOut)
	}

	sock := startDaemon(t, &fakeAgent{status: ipcproto.Status{State: ipcproto.StateRegistering}, authURL: "http://acme.localhost:8781/warp"})
	for _, args := range [][]string{
		{"why", "wiki.acme.internal"}, {"why", "ssh://x/"}, {"why", "x:y"}, {"why", "x:80", "--proto", "icmp"},
		{"settings", "get", "bogus"}, {"settings", "set", "mode", "bogus"}, {"settings", "set", "bogus", "1"},
		{"register", "--no-browser", "--wait", "10ms"}, {"no-such-command"}, {"status", "extra"},
	} {
		out, errOut, _ := agentctl(t, sock, args...)
		check("agentctl "+strings.Join(args, " "), out+errOut)
	}
	_, errOut, _ := agentctl(t, filepath.Join(t.TempDir(), "none.sock"), "status")
	check("agentctl status without agentd", errOut)
	_, errOut, _ = interruptLogin(t, &fakeAgent{status: ipcproto.Status{State: ipcproto.StateRegistering}}, "register")
	check("interrupted register", errOut)
}
