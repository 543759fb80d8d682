package ipc

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

func TestEveryRouteAnswersItsJSON(t *testing.T) {
	ts := startServer(t, nil, nil)
	ctx := t.Context()
	c := ts.client

	st, err := c.Status(ctx)
	if err != nil || !reflect.DeepEqual(st, ts.fake.status) {
		t.Fatalf("Status = %+v, %v; want %+v", st, err, ts.fake.status)
	}
	sess, err := c.Session(ctx)
	if err != nil || len(sess.Gateway) != 1 || sess.Gateway[0].PolicyID != "p1" || sess.Access == nil {
		t.Fatalf("Session = %+v, %v", sess, err)
	}
	trace, err := c.Explain(ctx, "wiki.acme.test:443", "")
	if err != nil {
		t.Fatal(err)
	}
	var tr map[string]any
	if err := json.Unmarshal(trace, &tr); err != nil || tr["dst"] != "wiki.acme.test:443" || tr["proto"] != "tcp" {
		t.Fatalf("Explain = %s, %v", trace, err)
	}
	var u ipcproto.AuthURL
	ts.whileUnregistered(func() { u, err = c.Register(ctx, ipcproto.RegisterRequest{Team: "acme"}) })
	if err != nil || u.AuthURL == "" {
		t.Fatalf("Register = %+v, %v", u, err)
	}
	for name, call := range map[string]func() (ipcproto.Status, error){
		"Leave":      func() (ipcproto.Status, error) { return c.Leave(ctx) },
		"Connect":    func() (ipcproto.Status, error) { return c.Connect(ctx) },
		"Disconnect": func() (ipcproto.Status, error) { return c.Disconnect(ctx) },
	} {
		if st, err := call(); err != nil || st.State != ipcproto.StateConnected {
			t.Fatalf("%s = %+v, %v", name, st, err)
		}
	}
	if u, err := c.Reauth(ctx, ipcproto.ReauthRequest{}); err != nil || !strings.Contains(u.AuthURL, "refresh-identity") {
		t.Fatalf("Reauth = %+v, %v", u, err)
	}
	if s, err := c.Settings(ctx); err != nil || s.Mode != "proxy" {
		t.Fatalf("Settings = %+v, %v", s, err)
	}
	if s, err := c.SetSettings(ctx, ipcproto.Settings{Mode: "tun"}); err != nil || s.Mode != "tun" || s.ProxyAddr != "127.0.0.1:40000" {
		t.Fatalf("SetSettings = %+v, %v", s, err)
	}
	want := []string{"session", "explain wiki.acme.test:443 tcp", "register acme", "leave", "connect", "disconnect", "reauth", "set_settings"}
	got := ts.fake.Calls()
	// Leave, Connect and Disconnect ran in map order.
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[6] != want[6] || got[7] != want[7] {
		t.Fatalf("backend calls = %q, want %q (middle in any order)", got, want)
	}
	if by := ts.fake.registeredBy; len(by) != 1 || by[0] != ts.fake.operator {
		t.Fatalf("Register's caller uid = %v, want [%d]", by, ts.fake.operator)
	}
	if v := c.Versions(); v.API != "1" || v.Daemon != "0.1.0-test" || v.Mismatch() {
		t.Fatalf("Versions = %+v", v)
	}
}

// The wire names are a contract (DESIGN §4), not whatever the Go fields are.
func TestStatusWireNames(t *testing.T) {
	ts := startServer(t, nil, nil)
	r := raw(t, ts.sock, http.MethodGet, "/v1/status", nil, "")
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", r.Status, r.Header.Get("Content-Type"))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"state", "registration", "tunnel", "session"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status has no %q: %s", k, r.Body)
		}
	}
	var reg map[string]any
	_ = json.Unmarshal(m["registration"], &reg)
	for _, k := range []string{"device_id", "user", "team", "idp", "registered_at"} {
		if _, ok := reg[k]; !ok {
			t.Errorf("registration has no %q: %s", k, m["registration"])
		}
	}
}

func TestVersionHeadersOnEveryResponse(t *testing.T) {
	ts := startServer(t, nil, nil)
	for _, rq := range []struct{ method, path string }{
		{"GET", "/v1/status"}, {"GET", "/v1/nope"}, {"PUT", "/v1/status"},
		{"GET", "/v1/explain"}, {"POST", "/v1/connect"},
	} {
		r := raw(t, ts.sock, rq.method, rq.path, nil, "")
		if r.Header.Get(ipcproto.APIVersionHeader) != "1" || r.Header.Get(ipcproto.DaemonVersionHeader) != "0.1.0-test" {
			t.Errorf("%s %s (%d): headers %v", rq.method, rq.path, r.Status, r.Header)
		}
	}
}

func errorBody(t *testing.T, body string) apierror.Error {
	t.Helper()
	var b apierror.Body
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("error body without code or message: %s", body)
	}
	return b.Error
}

func TestOriginAndRefererRefused(t *testing.T) {
	ts := startServer(t, nil, nil)
	for _, h := range []http.Header{
		{"Origin": {"http://evil.example"}},
		{"Referer": {"http://evil.example/page"}},
		{"Origin": {"null"}},
	} {
		for _, rq := range []struct{ method, path string }{{"GET", "/v1/status"}, {"POST", "/v1/connect"}, {"GET", "/v1/events"}} {
			r := raw(t, ts.sock, rq.method, rq.path, h, "")
			if e := errorBody(t, r.Body); r.Status != http.StatusForbidden || e.Code != ipcproto.CodeForbiddenOrigin {
				t.Errorf("%s %s with %v = %d %+v, want 403 forbidden_origin", rq.method, rq.path, h, r.Status, e)
			}
		}
	}
	if calls := ts.fake.Calls(); len(calls) != 0 {
		t.Fatalf("refused requests reached the backend: %q", calls)
	}
}

func TestBodyBoundedAt64KiB(t *testing.T) {
	ts := startServer(t, nil, nil)
	obj := `{"mode":"tun"}`
	atLimit := obj[:len(obj)-1] + strings.Repeat(" ", ipcproto.MaxBodyBytes-len(obj)) + "}"
	r := raw(t, ts.sock, "PATCH", "/v1/settings", http.Header{"Content-Type": {"application/json"}}, atLimit)
	if r.Status != http.StatusOK {
		t.Fatalf("body of exactly %d bytes: %d %s", len(atLimit), r.Status, r.Body)
	}
	over := atLimit[:len(atLimit)-1] + " }"
	r = raw(t, ts.sock, "PATCH", "/v1/settings", nil, over)
	if e := errorBody(t, r.Body); r.Status != http.StatusRequestEntityTooLarge || e.Code != ipcproto.CodeBodyTooLarge {
		t.Fatalf("body of %d bytes: %d %+v", len(over), r.Status, e)
	}
	ts.whileUnregistered(func() {
		r = raw(t, ts.sock, "POST", "/v1/registration", nil, `{"team":"`+strings.Repeat("a", 70<<10)+`"}`)
	})
	if r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("large registration body: %d %s", r.Status, r.Body)
	}
}

func TestBadRequestsAreRefusedBeforeTheBackend(t *testing.T) {
	ts := startServer(t, nil, nil)
	json := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		method, path string
		header       http.Header
		body         string
		status       int
	}{
		{"PATCH", "/v1/settings", json, `{"mode":"tun","colour":"red"}`, 400},
		{"PATCH", "/v1/settings", json, `{"mode":"tun"}{"mode":"proxy"}`, 400},
		{"PATCH", "/v1/settings", json, `{"mode":"warp"}`, 400},
		{"PATCH", "/v1/settings", json, `{"proxy_addr":"localhost"}`, 400},
		{"PATCH", "/v1/settings", json, `{}`, 400},
		{"PATCH", "/v1/settings", json, ``, 400},
		{"PATCH", "/v1/settings", json, `[1]`, 400},
		{"PATCH", "/v1/settings", http.Header{"Content-Type": {"text/plain"}}, `{"mode":"tun"}`, 415},
		{"POST", "/v1/registration", json, `{"team":5}`, 400},
		{"GET", "/v1/explain?dst=wiki", nil, ``, 400},
		{"GET", "/v1/explain?dst=wiki:0", nil, ``, 400},
		{"GET", "/v1/explain?dst=wiki:443&proto=icmp", nil, ``, 400},
		{"GET", "/v1/explain?dst=:443", nil, ``, 400},
	}
	for _, tc := range cases {
		var r rawResponse
		call := func() { r = raw(t, ts.sock, tc.method, tc.path, tc.header, tc.body) }
		if tc.path == "/v1/registration" {
			ts.whileUnregistered(call)
		} else {
			call()
		}
		if e := errorBody(t, r.Body); r.Status != tc.status || e.Code != ipcproto.CodeBadRequest {
			t.Errorf("%s %s %q = %d %+v, want %d bad_request", tc.method, tc.path, tc.body, r.Status, e, tc.status)
		}
	}
	if calls := ts.fake.Calls(); len(calls) != 0 {
		t.Fatalf("bad requests reached the backend: %q", calls)
	}
	// An empty registration body is the default team.
	ts.whileUnregistered(func() {
		if r := raw(t, ts.sock, "POST", "/v1/registration", nil, ""); r.Status != http.StatusOK {
			t.Errorf("empty registration body: %d %s", r.Status, r.Body)
		}
	})
}

func TestUnknownRoutesAndWrongMethods(t *testing.T) {
	ts := startServer(t, nil, nil)
	for _, p := range []string{"/", "/v1", "/v1/", "/v1/status/", "/v2/status", "/v1/STATUS", "/v1/status/../status2"} {
		r := raw(t, ts.sock, "GET", p, nil, "")
		if e := errorBody(t, r.Body); r.Status != http.StatusNotFound || e.Code != ipcproto.CodeNotFound {
			t.Errorf("GET %s = %d %+v, want 404", p, r.Status, e)
		}
	}
	r := raw(t, ts.sock, "PUT", "/v1/registration", nil, "")
	if e := errorBody(t, r.Body); r.Status != http.StatusMethodNotAllowed || e.Code != ipcproto.CodeMethodNotAllowed {
		t.Fatalf("PUT /v1/registration = %d %+v", r.Status, e)
	}
	if allow := r.Header.Values("Allow"); len(allow) != 2 || allow[0] != "POST" || allow[1] != "DELETE" {
		t.Fatalf("Allow = %q, want POST, DELETE", allow)
	}
	if r := raw(t, ts.sock, "GET", "/v1/connect", nil, ""); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/connect = %d", r.Status)
	}
}

func TestBackendErrors(t *testing.T) {
	ts := startServer(t, nil, nil)
	ctx := t.Context()

	ts.fake.setFail(errFakeRefusal)
	_, err := ts.client.Connect(ctx)
	var apiErr *apierror.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict || apiErr.Code != errFakeRefusal.Code || apiErr.Message != errFakeRefusal.Message || apiErr.Hint != errFakeRefusal.Hint {
		t.Fatalf("coded backend error = %v, want it as is", err)
	}
	if errors.Is(err, ErrPermissionDenied) {
		t.Fatal("a conflict matched ErrPermissionDenied")
	}

	ts.fake.setFail(errFakeInternal)
	r := raw(t, ts.sock, "POST", "/v1/connect", nil, "")
	e := errorBody(t, r.Body)
	if r.Status != http.StatusInternalServerError || e.Code != ipcproto.CodeInternal {
		t.Fatalf("uncoded backend error = %d %+v", r.Status, e)
	}
	if strings.Contains(r.Body, "canary") || strings.Contains(r.Body, "keyring said") {
		t.Fatalf("an uncoded backend error leaked its text: %s", r.Body)
	}
}
