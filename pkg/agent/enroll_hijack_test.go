package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/platform/keyring"
)

// subscribeAs follows the agent's events as uid would over the IPC.
func (e *env) subscribeAs(uid int) <-chan ipcproto.Event {
	e.t.Helper()
	_, ch, cancel := e.a.Subscribe(ipc.Caller{UID: uid})
	e.t.Cleanup(cancel)
	return ch
}

// eventsUntil returns the events of ch up to and including the first of
// type last, failing after 30 s.
func eventsUntil(t *testing.T, ch <-chan ipcproto.Event, last string) []ipcproto.Event {
	t.Helper()
	var out []ipcproto.Event
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed after %d events, before %s", len(out), last)
			}
			out = append(out, ev)
			if ev.Type == last {
				return out
			}
		case <-deadline:
			t.Fatalf("no %s event within 30s (got %d events)", last, len(out))
		}
	}
}

func hasEvent(evs []ipcproto.Event, typ string) bool {
	for _, ev := range evs {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

// Issue 12.1: the enrollment URL (with its state and callback port) is
// published only to the user who started it and to root. Another local
// user who could read it could sign in with her own account and own the
// device, or cancel the enrollment.
func TestEnrollmentURLReachesOnlyTheEnroller(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	alice, mallory, root := e.subscribeAs(1000), e.subscribeAs(1001), e.subscribeAs(0)
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The enrollment's failure is an error event for everyone, published
	// after the URL: each stream up to it shows what that user was given.
	if status, _ := get(t, e.callbackError(au.AuthURL)); status != http.StatusBadRequest {
		t.Fatalf("callback with error: %d", status)
	}
	for who, ch := range map[string]<-chan ipcproto.Event{"alice": alice, "root": root} {
		if evs := eventsUntil(t, ch, ipcproto.EventError); !hasEvent(evs, ipcproto.EventBrowseToURL) {
			t.Errorf("%s, who may see the enrollment, got no browse_to_url", who)
		}
	}
	evs := eventsUntil(t, mallory, ipcproto.EventError)
	if hasEvent(evs, ipcproto.EventBrowseToURL) {
		t.Fatal("another local user received the enrollment URL")
	}
	for _, ev := range evs {
		if strings.Contains(string(ev.Data), "state=") || strings.Contains(string(ev.Data), "code_challenge") {
			t.Fatalf("another local user saw the flow's parameters: %s", ev.Data)
		}
	}
}

// Issue 12.1: re-authentication prompts go to the operator and root only.
func TestReauthPromptReachesOnlyTheOperator(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	alice, mallory := e.subscribeAs(1000), e.subscribeAs(1001)
	if _, err := e.a.Reauth(t.Context(), ipcproto.ReauthRequest{}); err != nil {
		t.Fatal(err)
	}
	// A broadcast after the prompt marks where each stream has read to.
	if err := e.a.Disconnect(t.Context(), ipc.Caller{UID: 0}); err != nil {
		t.Fatal(err)
	}
	if evs := eventsUntil(t, alice, ipcproto.EventTunnelDown); !hasEvent(evs, ipcproto.EventBrowseToURL) {
		t.Fatal("the operator got no re-authentication prompt")
	}
	if evs := eventsUntil(t, mallory, ipcproto.EventTunnelDown); hasEvent(evs, ipcproto.EventBrowseToURL) {
		t.Fatal("another local user got the operator's re-authentication prompt")
	}
}

// Issue 12.1: a callback from another user's browser, even with the right
// state, neither cancels the enrollment nor registers the device; the
// enroller's own browser still completes it.
func TestEnrollmentCallbackFromAnotherUsersBrowserIsRefused(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateRegistering)
	e.browser.uid.Store(1001)
	if status, body := get(t, e.callbackError(au.AuthURL)); status != http.StatusForbidden || !strings.Contains(body, "another user") {
		t.Fatalf("cancel from another user's browser: %d %s", status, body)
	}
	if status, _ := get(t, e.callbackURL(au.AuthURL, "code-mallory", "")); status != http.StatusForbidden {
		t.Fatalf("sign-in from another user's browser: %d", status)
	}
	if _, err := newRegStore(e.kr).Load(t.Context()); !errors.Is(err, errNotRegistered) {
		t.Fatalf("after another user's callback the keyring holds %v", err)
	}
	if st := e.a.Status(t.Context()); st.State != ipcproto.StateRegistering {
		t.Fatalf("another user's callback changed the enrollment: %s (%s)", st.State, st.Message)
	}
	e.browser.uid.Store(1000)
	if status, body := get(t, e.callbackURL(au.AuthURL, "code-1", "")); status != http.StatusOK || !strings.Contains(body, "registered") {
		t.Fatalf("the enroller's own callback: %d %s", status, body)
	}
	e.waitState(ipcproto.StateConnected)
	if uid, ok := e.a.Operator(); uid != 1000 || !ok {
		t.Fatalf("operator %d %v", uid, ok)
	}
}

// Issue 12.1, with a real other user: as root, a process running as
// nobody calls the callback with the right state and error=access_denied
// (the cancel attack). The kernel's socket table names it, and the
// enrollment goes on.
func TestEnrollmentCallbackFromNobodyIsRefused(t *testing.T) {
	realdeps.Root(t, "a process runs as nobody")
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateRegistering)
	out, err := runAsNobody(t, e.callbackError(au.AuthURL))
	if err != nil {
		t.Fatalf("the client run as nobody: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "403 ") {
		t.Fatalf("callback from nobody answered %q, want 403", out)
	}
	if st := e.a.Status(t.Context()); st.State != ipcproto.StateRegistering {
		t.Fatalf("nobody's callback ended the enrollment: %s (%s)", st.State, st.Message)
	}
}

// callbackError is the callback the team domain sends when a sign-in is
// refused, with the flow's own state.
func (e *env) callbackError(authURL string) string {
	e.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	q := u.Query()
	return q.Get("redirect_uri") + "?" + url.Values{"error": {"access_denied"}, "state": {q.Get("state")}}.Encode()
}

// runAsNobody runs this test binary as uid/gid 65534 to GET u, and returns
// what it printed: the status line, or the error.
func runAsNobody(t *testing.T, u string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The go tool's build directory is private to root: give nobody a copy
	// it can execute.
	dir, err := os.MkdirTemp("", "ztagent-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "agent.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestHelperGetAsOtherUser$")
	cmd.Env = []string{"ZTAGENT_HELPER_GET=" + u}
	cmd.Dir = dir
	asNobody(cmd)
	out, err := cmd.CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return line, err
}

// TestHelperGetAsOtherUser is the child of runAsNobody, not a test.
func TestHelperGetAsOtherUser(t *testing.T) {
	u := os.Getenv("ZTAGENT_HELPER_GET")
	if u == "" {
		t.Skip("helper process for TestEnrollmentCallbackFromNobodyIsRefused")
	}
	resp, err := http.Get(u)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	os.Exit(0)
}

// Issue 12.8: a registration answer rewritten on its way (another team
// domain, or a refresh-identity URL elsewhere) is refused, and nothing is
// stored, so `agentctl reauth` can never open the attacker's page.
func TestRegistrationAnswerMustKeepTheLookedUpTeamDomain(t *testing.T) {
	for name, tamper := range map[string]func(*control.TeamInfo){
		"domain": func(ti *control.TeamInfo) { ti.Domain = "http://evil.localhost:8781" },
		"refresh identity": func(ti *control.TeamInfo) {
			ti.RefreshIdentityURL = "http://evil.localhost:8781/cdn-cgi/access/refresh-identity"
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.edge.mu.Lock()
			e.edge.tamperTeam = tamper
			e.edge.mu.Unlock()
			e.waitState(ipcproto.StateUnregistered)
			au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if status, body := get(t, e.callbackURL(au.AuthURL, "code-1", "")); status != http.StatusOK || !strings.Contains(body, "does not match team") {
				t.Fatalf("callback: %d %s", status, body)
			}
			if _, err := newRegStore(e.kr).Load(t.Context()); !errors.Is(err, errNotRegistered) {
				t.Fatalf("a tampered registration was stored: %v", err)
			}
			if st := e.waitState(ipcproto.StateUnregistered); !strings.Contains(st.Message, "tampering") {
				t.Fatalf("status message %q does not explain", st.Message)
			}
		})
	}
}

// Issue 12.8: plain HTTP to an edge on another host is refused at start.
func TestPlainHTTPEdgeOnlyOnThisHost(t *testing.T) {
	for raw, ok := range map[string]bool{
		"http://127.0.0.1:8780": true, "http://[::1]:8780": true, "http://localhost:8780": true,
		"https://edge.example.com": true, "http://edge.example.com": false, "http://10.0.0.5:8780": false,
		"ftp://127.0.0.1": false, "127.0.0.1:8780": false,
	} {
		if err := checkEdgeAPI(raw); (err == nil) != ok {
			t.Errorf("checkEdgeAPI(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
	_, err := New(Options{StateDir: t.TempDir(), Keyring: keyring.NewMemory(), EdgeAPI: "http://edge.example.com"})
	if err == nil || !strings.Contains(err.Error(), "https://") {
		t.Fatalf("New with a plain-http remote edge: %v", err)
	}
}

// Issue 12.19: a pending enrollment keeps other users out only for
// EnrollmentHold from when its user first started, however often that
// user starts again; then another user may take over, and the first is
// told.
func TestPendingEnrollmentHoldsOthersOffOnlyBriefly(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.EnrollmentHold = 2 * time.Minute })
	e.waitState(ipcproto.StateUnregistered)
	alice := e.subscribeAs(1000)
	if _, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.a.Register(t.Context(), ipc.Caller{UID: 1001}, ipcproto.RegisterRequest{})
	if !isIPCCode(err, ipcproto.CodeConflict) || !strings.Contains(err.Error(), "in 2m0s") {
		t.Fatalf("another user during the hold: %v, want a conflict naming the wait", err)
	}
	// Alice starting again renews her enrollment, not her hold.
	e.advance(90 * time.Second)
	if _, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Register(t.Context(), ipc.Caller{UID: 1001}, ipcproto.RegisterRequest{}); !isIPCCode(err, ipcproto.CodeConflict) || !strings.Contains(err.Error(), "in 30s") {
		t.Fatalf("another user after alice restarted: %v, want 30s left", err)
	}
	e.advance(31 * time.Second)
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1001}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatalf("another user after the hold: %v", err)
	}
	evs := eventsUntil(t, alice, ipcproto.EventError)
	if !strings.Contains(string(evs[len(evs)-1].Data), "enrollment_replaced") {
		t.Fatalf("alice was told %s", evs[len(evs)-1].Data)
	}
	if status, _ := get(t, e.callbackURL(au.AuthURL, "code-1", "")); status != http.StatusOK {
		t.Fatalf("the new enrollment's callback: %d", status)
	}
	e.waitState(ipcproto.StateConnected)
	if uid, _ := e.a.Operator(); uid != 1001 {
		t.Fatalf("operator %d, want 1001", uid)
	}
}
