package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

// S3 through the whole edge: the example's git policy (http, 1h) and wiki
// policy (l4, 1h30m) allow alice until simulated time passes their
// durations; git answers the session-expired block page, the wiki refuses
// new connections, the device gets one session_expired per policy, and a
// refresh-identity (S12, with the form since prompt=login, S11) brings
// both back with a session_refreshed event.
func TestS3_ExpiryBlocksAndRefreshRestores(t *testing.T) {
	tc := newTestConfig(t)
	// The example puts an Access app (binding cookie on) on the git host;
	// move it aside so that this test sees the Gateway alone.
	tc.editTF(t, `domain\s*=\s*"git.acme.internal"`, `domain                = "git-ui.acme.internal"`)
	s := startSim(t, tc.options(stateDir(t)))
	a := newAgent(t, s, "fp-1")
	reg := a.enroll(alice)
	tn := a.startTunnel()
	st, err := a.api().Events(t.Context(), reg.DeviceID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	get := func(u string) (int, string) {
		t.Helper()
		status, body, err := getThrough(t.Context(), tn, u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		return status, body
	}
	if status, body := get("http://git.acme.internal/repo"); status != 200 || body != "git: GET /repo" {
		t.Fatalf("git before expiry: %d %q", status, body)
	}
	if status, _ := get("http://wiki.acme.internal/"); status != 200 {
		t.Fatalf("wiki before expiry: %d", status)
	}

	if _, err := adminClient(s).AdvanceClock(t.Context(), 61*time.Minute); err != nil {
		t.Fatal(err)
	}
	status, body := get("http://git.acme.internal/repo")
	if status != http.StatusForbidden || !strings.Contains(body, reg.Team.RefreshIdentityURL) {
		t.Fatalf("git after 61m: %d, want 403 with a link to %s\n%s", status, reg.Team.RefreshIdentityURL, body)
	}
	get("http://git.acme.internal/again") // a second block signals nothing new
	if status, _ := get("http://wiki.acme.internal/"); status != 200 {
		t.Fatalf("wiki after 61m (its limit is 1h30m): %d", status)
	}
	ev := nextEvent(t, st)
	var se control.SessionExpired
	if ev.Type != control.EventSessionExpired || json.Unmarshal(ev.Payload, &se) != nil || se.PolicyName != "Git over HTTP" || se.Filter != "http" {
		t.Fatalf("event: %+v %s", ev, ev.Payload)
	}

	if _, err := adminClient(s).AdvanceClock(t.Context(), 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Through the HTTP proxy, as a user's client would: each request is a
	// new flow, never an established one from a pool.
	if status, body, err := getThrough(t.Context(), tn, "http://wiki.acme.internal/"); err == nil && status == 200 {
		t.Fatalf("wiki after 1h31m: %d %q; want it refused", status, body)
	}
	ev = nextEvent(t, st)
	if ev.Type != control.EventSessionExpired || json.Unmarshal(ev.Payload, &se) != nil || se.PolicyName != "Company Wiki Network policy" {
		t.Fatalf("second event: %+v %s (the git block must not signal twice)", ev, ev.Payload)
	}

	sess, err := a.api().Session(t.Context(), reg.DeviceID)
	if err != nil || len(sess.Gateway) != 2 || !sess.Gateway[0].Expired || !sess.Gateway[1].Expired ||
		sess.Access == nil || sess.Access.Duration != "12h0m0s" {
		t.Fatalf("session map: %+v (%v)", sess, err)
	}

	res := refreshIdentity(t, a, alice)
	if res.FormsShown != 1 {
		t.Fatalf("refresh-identity with prompt=login showed %d forms", res.FormsShown)
	}
	if ev := nextEvent(t, st); ev.Type != control.EventSessionRefreshed {
		t.Fatalf("after refresh-identity: %+v", ev)
	}
	if status, _ := get("http://git.acme.internal/repo"); status != 200 {
		t.Fatalf("git after refresh: %d", status)
	}
	if status, _ := get("http://wiki.acme.internal/"); status != 200 {
		t.Fatalf("wiki after refresh: %d", status)
	}

	ex, err := a.api().Explain(t.Context(), reg.DeviceID, "wiki.acme.internal:80", "tcp")
	if err != nil || ex.PolicyName != "Company Wiki Network policy" || len(ex.Stages) == 0 {
		t.Fatalf("explain: %+v %v", ex, err)
	}
	if _, err := a.api().Explain(t.Context(), reg.DeviceID, "no-port", "tcp"); !apierror.HasCode(err, control.CodeBadRequest) {
		t.Fatalf("explain of a bad destination: %v", err)
	}
	if !containsKind(auditKinds(t, s), "gateway_decision") {
		t.Fatal("no gateway decision in the audit log")
	}
}
