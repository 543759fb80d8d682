package gateway

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/policy"
)

// Each simulated Gateway field decides a real flow through the tunnel: a
// session-limited allow policy on the field, with the session outlived,
// refuses the flows it covers (S3) and lets the others through (no
// policy matches them), so the field alone decides who must log in again.

const vnet = "0e2d4f6a-1111-2222-3333-444455556666"

// limitedSSH is an L4 allow for the wiki's port 22 with a 2s session.
func limitedSSH(traffic, identity string) policy.Rule {
	return policy.Rule{
		ID: "limited", Name: "Limited", Precedence: 1, Enabled: true, Action: policy.ActionAllow,
		Filters: []policy.Filter{policy.FilterL4}, Traffic: "net.dst.port == 22 and (" + traffic + ")", Identity: identity,
		Session: &policy.CheckSession{Enforce: true, Duration: 2 * time.Second},
	}
}

// member is alice with the directory's attributes; another has none.
var (
	member = Identity{
		Email: "alice@example.com", Name: "Alice Example", Groups: []string{"engineering"}, AuthTime: t0,
		GroupIDs: []string{"61503835-b6fe-4630-af88-de551dd59a2f"}, GroupEmails: []string{"engineering@acme.example"},
		SAMLAttributes: []string{"department=Engineering"}, OIDCClaims: []string{"team=platform"},
	}
	another = Identity{Email: "carol@example.com", Name: "Carol", Groups: []string{"engineering"}, AuthTime: t0}
)

func TestIdentityFieldsDecideTunnelFlows(t *testing.T) {
	for _, identity := range []string{
		`identity.groups.id == "61503835-B6FE-4630-AF88-DE551DD59A2F"`,
		`any(identity.groups.email[*] == "engineering@acme.example")`,
		`any(identity.saml_attributes[*] == "department=Engineering")`,
		`identity.oidc_claims == "team=platform"`,
	} {
		t.Run(identity, func(t *testing.T) {
			e := startTunnelEnv(t, policies(limitedSSH("net.dst.ip == 10.0.0.10", identity)))
			e.devs.set("dev-alice", member)
			e.clock.Advance(3 * time.Second)
			if _, err := e.dial(t, "wiki.acme.internal:22"); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("the covered user's expired session: dial = %v, want refused", err)
			}
			e.devs.set("dev-alice", another)
			c, err := e.dial(t, "wiki.acme.internal:22")
			if err != nil {
				t.Fatalf("a user the policy does not cover was refused: %v", err)
			}
			echoLine(t, c, bufio.NewReader(c), "not covered")
			e.sink.waitFor(t, "the refusal names the policy", func(ds []Decision, _ []SessionExpired) bool {
				for _, d := range ds {
					if d.Reason == "session_expired" && d.PolicyID == "limited" {
						return true
					}
				}
				return false
			})
		})
	}
}

// The network fields the device's flow carries from the start: its
// tunnel address and the virtual network.
func TestNetworkFieldsDecideTunnelFlows(t *testing.T) {
	for _, tc := range []struct {
		traffic string
		covered bool
	}{
		{"net.src.ip == 100.96.0.2", true},
		{"net.src.ip in {100.96.0.0/12}", true},
		{"net.src.ip == 100.96.0.3", false},
		{`net.vnet_id == "` + strings.ToUpper(vnet) + `"`, true},
		{`net.vnet_id == "00000000-0000-4000-8000-000000000001"`, false},
	} {
		t.Run(tc.traffic, func(t *testing.T) {
			e := startTunnelEnv(t, policies(limitedSSH(tc.traffic, "")), func(o *Options) { o.Site = Site{VNetID: vnet} })
			e.clock.Advance(3 * time.Second)
			_, err := e.dial(t, "wiki.acme.internal:22")
			if refused := err != nil; refused != tc.covered {
				t.Fatalf("dial = %v; want refused = %v", err, tc.covered)
			}
		})
	}
}

// clientHello returns the first flight a TLS client sends for server.
func clientHello(t *testing.T, server string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		defer b.Close()
		tls.Client(b, &tls.Config{ServerName: server, InsecureSkipVerify: true}).Handshake()
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(a, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(a, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// The fields known from a flow's first bytes: the Gateway holds the flow
// until the client has spoken, then decides. A covered flow is closed
// without reaching the upstream; another is spliced, its first bytes
// first, so the echo server returns them.
func TestFirstBytesFieldsDecideTunnelFlows(t *testing.T) {
	hello := clientHello(t, "git.acme.internal")
	for _, tc := range []struct {
		traffic string
		first   []byte
		covered bool
	}{
		{`net.sni.domains == "acme.internal"`, hello, true},
		{`any(net.sni.domains[*] == "wiki.acme.internal")`, hello, false},
		{`net.detected_protocol == "tls"`, hello, true},
		{`net.detected_protocol == "ssh"`, []byte("SSH-2.0-OpenSSH_9.6\r\n"), true},
		{`net.detected_protocol == "ssh"`, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{`net.detected_protocol == "http"`, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true},
		{`net.detected_protocol == "http"`, []byte("SSH-2.0-OpenSSH_9.6\r\n"), false},
	} {
		t.Run(tc.traffic+" "+string(tc.first[:4]), func(t *testing.T) {
			e := startTunnelEnv(t, policies(limitedSSH(tc.traffic, "")))
			e.clock.Advance(3 * time.Second)
			c, err := e.dial(t, "wiki.acme.internal:22")
			if err != nil {
				t.Fatalf("dial: %v; the Gateway must accept and read the first bytes", err)
			}
			if _, err := c.Write(tc.first); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(tc.first))
			_, err = io.ReadFull(c, got)
			if covered := err != nil; covered != tc.covered {
				t.Fatalf("echo read: %v; want the flow closed = %v", err, tc.covered)
			}
			if !tc.covered && string(got) != string(tc.first) {
				t.Fatalf("the upstream echoed %q, want the first bytes back", got)
			}
		})
	}
}

// dns.resolved_ips and the categories decide DNS queries, and an HTTP
// allow with a session limit on a category decides requests.
func TestAnswerAndCategoryFieldsDecideTunnelFlows(t *testing.T) {
	resolved := policy.Rule{ID: "ips", Name: "Resolved", Precedence: 1, Enabled: true, Action: policy.ActionBlock,
		Filters: []policy.Filter{policy.FilterDNS}, Traffic: "any(dns.resolved_ips[*] == 10.0.0.10)"}
	category := policy.Rule{ID: "cat", Name: "Category", Precedence: 2, Enabled: true, Action: policy.ActionBlock,
		Filters: []policy.Filter{policy.FilterDNS}, Traffic: "any(dns.security_category[*] in {80 81})"}
	e := startTunnelEnv(t, policies(resolved, category), func(o *Options) {
		o.Site = Site{Categories: map[string]Categories{"example.net": {Security: []int{80}}}}
	})
	for name, want := range map[string]string{
		"wiki.acme.internal":  "0.0.0.0",   // resolves to 10.0.0.10
		"git.acme.internal":   "10.0.0.20", // neither
		"tracker.example.net": "0.0.0.0",   // its parent domain's category
	} {
		if got := e.lookup(t, name); len(got) != 1 || got[0] != want {
			t.Errorf("%s resolves to %v, want %s", name, got, want)
		}
	}

	limited := gitRule
	limited.Traffic = "any(http.request.uri.content_category[*] in {7})"
	limited.Identity = ""
	limited.Session = &policy.CheckSession{Enforce: true, Duration: 2 * time.Second}
	h := startTunnelEnv(t, policies(limited), func(o *Options) {
		o.Site = Site{Categories: map[string]Categories{"git.acme.internal": {Content: []int{7}}}}
	})
	h.clock.Advance(3 * time.Second)
	tr := &http.Transport{DialContext: h.tun.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitTimeout}
	get := func() (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://git.acme.internal/x", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusForbidden || !strings.Contains(body, "Session expired") {
		t.Fatalf("a host in the limited category after expiry: %d %q", code, body)
	}
	h.g.SetSite(Site{})
	tr.CloseIdleConnections()
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("a host without the category: %d, want 200", code)
	}
}
