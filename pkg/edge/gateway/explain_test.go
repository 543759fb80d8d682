package gateway

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/ruleid"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

func TestExplainWalksDNSThenL4ThenHTTP(t *testing.T) {
	f := newFixture(t, policies(trackerRule, wikiRule, gitRule))
	ctx := t.Context()
	f.clock.Advance(61 * time.Minute)

	ex, err := f.g.Explain(ctx, "dev-alice", "git.acme.internal:80", "")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Action != policy.ActionBlock || ex.Reason != "session_expired" || ex.PolicyID != "git" || ex.SessionAge != "1h1m0s" {
		t.Fatalf("outcome %+v", ex)
	}
	var filters []string
	for _, st := range ex.Stages {
		filters = append(filters, string(st.Filter)+":"+st.Reason)
	}
	if got := strings.Join(filters, " "); got != "dns:no_match l4:no_match http:session_expired" {
		t.Fatalf("stages %s", got)
	}
	if ex.Stages[1].Flow != "net.dst.ip=10.0.0.20 net.dst.port=80 net.protocol=tcp" {
		t.Fatalf("L4 stage flow %q", ex.Stages[1].Flow)
	}
	if tr := ex.Stages[2].Trace; len(tr) != 1 || tr[0].Session != "expired: session age 1h1m0s exceeds 1h0m0s" {
		t.Fatalf("HTTP trace %+v", tr)
	}

	b, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	json.Unmarshal(b, &generic)
	for _, key := range []string{"device_id", "user", "groups", "dst", "proto", "auth_time", "server_time", "session_age", "action", "reason", "policy_id", "policy_name", "stages"} {
		if _, ok := generic[key]; !ok {
			t.Errorf("explain JSON lacks %q: %s", key, b)
		}
	}
	stage := generic["stages"].([]any)[2].(map[string]any)
	trace := stage["trace"].([]any)[0].(map[string]any)
	if trace["policy_id"] != "git" || trace["outcome"] != "session_expired" {
		t.Errorf("trace JSON %v", trace)
	}
}

func TestExplainDNSBlockStopsThere(t *testing.T) {
	f := newFixture(t, policies(trackerRule))
	f.g.SetNetwork(wg.Network{Records: []wg.Record{{Name: "tracker.example.net", Addresses: []netip.Addr{wikiIP}}}})
	ex, err := f.g.Explain(t.Context(), "dev-alice", "tracker.example.net:443", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Action != policy.ActionBlock || ex.PolicyID != "tracker" || len(ex.Stages) != 1 || !strings.Contains(ex.Stages[0].Note, "0.0.0.0") {
		t.Fatalf("%+v", ex)
	}
	checkNoRuleIDs(t, ex)
}

func TestExplainL4ForWikiAndBob(t *testing.T) {
	f := newFixture(t, policies(wikiRule))
	ctx := t.Context()
	ex, err := f.g.Explain(ctx, "dev-alice", "wiki.acme.internal:22", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Action != policy.ActionAllow || ex.Reason != "allowed" || ex.PolicyName != wikiRule.Name {
		t.Fatalf("alice: %+v", ex)
	}
	if st := ex.Stages[1]; st.Trace[0].Session != "ok: session age 0s within 1h30m0s" {
		t.Fatalf("alice's session note %q", st.Trace[0].Session)
	}
	// On a TLS port the name is taken as the SNI.
	ex, _ = f.g.Explain(ctx, "dev-alice", "wiki.acme.internal:443", "tcp")
	if !strings.Contains(ex.Stages[1].Flow, "net.sni.host=wiki.acme.internal") || ex.Stages[1].Note == "" {
		t.Fatalf("TLS port stage %+v", ex.Stages[1])
	}
	// UDP by address: one stage.
	ex, err = f.g.Explain(ctx, "dev-alice", "10.0.0.10:53", "udp")
	if err != nil || len(ex.Stages) != 1 || ex.Protocol != "udp" {
		t.Fatalf("udp: %+v, %v", ex, err)
	}
}

func TestExplainEdgeService(t *testing.T) {
	block := policy.Rule{ID: "all", Name: "Block everything", Enabled: true, Action: policy.ActionBlock, Filters: []policy.Filter{policy.FilterL4}}
	f := newFixture(t, policies(block))
	ex, err := f.g.Explain(t.Context(), "dev-alice", "acme.localhost:8781", "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Action != policy.ActionAllow || ex.Reason != ReasonEdgeService || !strings.Contains(ex.Stages[len(ex.Stages)-1].Note, "is an edge service") {
		t.Fatalf("%+v", ex)
	}
	checkNoRuleIDs(t, ex)
}

func checkNoRuleIDs(t *testing.T, ex Explanation) {
	t.Helper()
	for _, st := range ex.Stages {
		if m := ruleid.Find(st.Note); m != "" {
			t.Errorf("the %s stage's note shows the rule ID %q: %s", st.Filter, m, st.Note)
		}
	}
}

func TestExplainBadDestinations(t *testing.T) {
	f := newFixture(t, policies())
	for _, tc := range []struct{ dst, proto, want string }{
		{"wiki.acme.internal", "tcp", "not host:port"},
		{"wiki.acme.internal:http", "tcp", "not a number"},
		{"10.0.0.10:0", "tcp", "not a number"},
		{"10.0.0.10:22", "icmp", "not tcp or udp"},
		{"nowhere.acme.internal:22", "tcp", "not a name of the virtual network"},
	} {
		_, err := f.g.Explain(t.Context(), "dev-alice", tc.dst, tc.proto)
		if !errors.Is(err, ErrBadDestination) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Explain(%q, %q) = %v; want ErrBadDestination saying %q", tc.dst, tc.proto, err, tc.want)
		}
	}
}

func TestSessionExpiryMap(t *testing.T) {
	disabled := gitRule
	disabled.ID, disabled.Enabled = "off", false
	both := wikiRule
	both.ID, both.Name, both.Filters, both.Traffic = "both", "Both filters", []policy.Filter{policy.FilterL4, policy.FilterHTTP}, ""
	both.Session = &policy.CheckSession{Enforce: true, Duration: 2 * time.Hour}
	f := newFixture(t, policies(wikiRule, gitRule, disabled, both, openRule, trackerRule))
	f.clock.Advance(70 * time.Minute)
	s, err := f.g.Session(t.Context(), "dev-alice")
	if err != nil {
		t.Fatal(err)
	}
	if !s.AuthTime.Equal(t0) || !s.ServerTime.Equal(t0.Add(70*time.Minute)) || len(s.Gateway) != 3 {
		t.Fatalf("%+v", s)
	}
	got := []string{}
	for _, e := range s.Gateway {
		got = append(got, e.PolicyID+":"+e.Filter+":"+e.DurationText+":"+map[bool]string{true: "expired", false: "ok"}[e.Expired])
	}
	if want := "git:http:1h0m0s:expired wiki:l4:1h30m0s:ok both:l4,http:2h0m0s:ok"; strings.Join(got, " ") != want {
		t.Fatalf("expiry map %v; want %s", got, want)
	}
	b, _ := json.Marshal(s)
	for _, key := range []string{`"auth_time"`, `"server_time"`, `"gateway"`, `"policy_id":"git"`, `"expires_at":"2026-11-26T10:00:00Z"`, `"expired":true`, `"duration":"1h0m0s"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("session JSON lacks %s: %s", key, b)
		}
	}
	if _, err := f.g.Session(t.Context(), "dev-nobody"); err == nil {
		t.Fatal("Session of an unknown device succeeded")
	}
}
