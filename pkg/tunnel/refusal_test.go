package tunnel

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeExplainer is an Options.ExplainRefusal that answers from a table of
// addresses and records what it was asked.
type fakeExplainer struct {
	answers map[string]Refusal // addr → answer; absent means "cannot explain"

	mu    sync.Mutex
	asked []string // "network addr"
}

func (f *fakeExplainer) explain(_ context.Context, network, addr string) (Refusal, bool) {
	f.mu.Lock()
	f.asked = append(f.asked, network+" "+addr)
	f.mu.Unlock()
	r, ok := f.answers[addr]
	return r, ok
}

func (f *fakeExplainer) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// proxyHTTP sends one raw request to the proxy and reads the response.
func proxyHTTP(t *testing.T, tun *Tunnel, raw string) (*http.Response, string) {
	t.Helper()
	c := dialProxy(t, tun)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: strings.Fields(raw)[0]})
	if err != nil {
		t.Fatalf("read the proxy's response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the proxy's response body: %v", err)
	}
	return resp, string(body)
}

// socksReplyCode sends a SOCKS5 CONNECT and returns the reply code,
// checking that a failed request ends the connection.
func socksReplyCode(t *testing.T, tun *Tunnel, host string, port uint16) byte {
	t.Helper()
	c := dialProxy(t, tun)
	code, _ := socksHandshake(t, c, socksRequest(socksCmdConnect, host, port))
	if code != socksSucceeded {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection still open after a failed request")
		}
	}
	return code
}

const expiredLine = `ztagent proxy: session expired (policy "Company wiki"): run agentctl reauth` + "\n"

// TestProxyExplainsExpiredSession: a refusal that ExplainRefusal explains as
// an expired session answers 403 with the policy's name and what to do
// (plain HTTP and CONNECT), and SOCKS5 reply 02; the edge is asked about
// the address refused, not the name the client gave.
func TestProxyExplainsExpiredSession(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	wiki := Refusal{Reason: RefusalSessionExpired, PolicyName: "Company wiki"}
	fx := &fakeExplainer{answers: map[string]Refusal{"10.99.0.1:12": wiki, "[fd00:99::1]:12": wiki}}
	tun := startTunnel(t, e, agent, Options{ExplainRefusal: fx.explain})

	for _, tc := range []struct{ name, req string }{
		{"HTTP forward", "GET http://10.99.0.1:12/ HTTP/1.1\r\nHost: 10.99.0.1:12\r\n\r\n"},
		{"CONNECT", "CONNECT 10.99.0.1:12 HTTP/1.1\r\nHost: 10.99.0.1:12\r\n\r\n"},
		{"CONNECT by name", "CONNECT " + nameEcho + ":12 HTTP/1.1\r\nHost: " + nameEcho + ":12\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := proxyHTTP(t, tun, tc.req)
			if resp.StatusCode != http.StatusForbidden || body != expiredLine {
				t.Fatalf("%s %q, want 403 %q", resp.Status, body, expiredLine)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("Content-Type %q, want text/plain", ct)
			}
		})
	}
	t.Run("SOCKS5", func(t *testing.T) {
		if code := socksReplyCode(t, tun, edgeV4.String(), portClosed); code != socksNotAllowed {
			t.Fatalf("reply code %d, want %d (not allowed by ruleset)", code, socksNotAllowed)
		}
	})
	for _, q := range fx.questions() {
		network, addr, _ := strings.Cut(q, " ")
		ap, err := netip.ParseAddrPort(addr)
		if network != "tcp" || err != nil || ap.Port() != portClosed {
			t.Errorf("ExplainRefusal asked about %q, want tcp and the refused ip:port", q)
		}
	}
	if n := len(fx.questions()); n != 4 {
		t.Errorf("ExplainRefusal asked %d times, want once per refused flow (4): %q", n, fx.questions())
	}
}

// TestProxyUnexplainedRefusal: a refusal ExplainRefusal cannot explain, or
// explains with another reason, stays the network error it was.
func TestProxyUnexplainedRefusal(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	for _, tc := range []struct {
		name    string
		answers map[string]Refusal
	}{
		{"cannot explain", nil},
		{"another reason", map[string]Refusal{"10.99.0.1:12": {Reason: "blocked", PolicyName: "Block everything"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := &fakeExplainer{answers: tc.answers}
			tun := startTunnel(t, e, agent, Options{ExplainRefusal: fx.explain})
			for _, req := range []string{
				"GET http://10.99.0.1:12/ HTTP/1.1\r\nHost: 10.99.0.1:12\r\n\r\n",
				"CONNECT 10.99.0.1:12 HTTP/1.1\r\nHost: 10.99.0.1:12\r\n\r\n",
			} {
				resp, body := proxyHTTP(t, tun, req)
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "connection refused") || strings.Contains(body, "session") {
					t.Fatalf("%q: %s %q, want 502 connection refused", req, resp.Status, body)
				}
			}
			if code := socksReplyCode(t, tun, edgeV4.String(), portClosed); code != socksRefused {
				t.Fatalf("SOCKS5 reply code %d, want %d (refused)", code, socksRefused)
			}
			if n := len(fx.questions()); n != 3 {
				t.Fatalf("ExplainRefusal asked %d times, want 3", n)
			}
		})
	}
}

// TestProxyExplainsOnlyRefusals: failures that are not a refusal (outside
// the allowed IPs, an unknown name, a host that never answers) are never
// taken for a policy's: ExplainRefusal is not asked, even when it would
// say "expired".
func TestProxyExplainsOnlyRefusals(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	always := func(context.Context, string, string) (Refusal, bool) {
		t.Error("ExplainRefusal asked about a flow that was not refused")
		return Refusal{Reason: RefusalSessionExpired, PolicyName: "Company wiki"}, true
	}
	// 10.99.0.77 is inside the allowed IPs, but nothing answers there.
	tun := startTunnel(t, e, agent, Options{ExplainRefusal: always, DialTimeout: 300 * time.Millisecond})
	for _, tc := range []struct {
		dst    string
		reason string
	}{
		{"192.0.2.1:80", "outside the tunnel's allowed IPs"},
		{"nope.edge.test:80", "no such host"},
		{"10.99.0.77:80", "timed out"},
	} {
		resp, body := proxyHTTP(t, tun, "CONNECT "+tc.dst+" HTTP/1.1\r\nHost: "+tc.dst+"\r\n\r\n")
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, tc.reason) {
			t.Fatalf("CONNECT %s: %s %q, want 502 %q", tc.dst, resp.Status, body, tc.reason)
		}
	}
}

// TestProxyExplainRefusalBounded: an ExplainRefusal that gets no answer
// (it waits for its context) is cut off within the dial timeout, and the
// client gets the network error rather than waiting for it.
func TestProxyExplainRefusalBounded(t *testing.T) {
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	const dialTimeout = time.Second
	var mu sync.Mutex
	var budgets []time.Duration
	hang := func(ctx context.Context, _, _ string) (Refusal, bool) {
		d, ok := ctx.Deadline()
		mu.Lock()
		if ok {
			budgets = append(budgets, time.Until(d))
		} else {
			budgets = append(budgets, -1)
		}
		mu.Unlock()
		<-ctx.Done()
		return Refusal{Reason: RefusalSessionExpired}, false
	}
	tun := startTunnel(t, e, agent, Options{ExplainRefusal: hang, DialTimeout: dialTimeout})

	c := dialProxy(t, tun)
	// Far less than ioTimeout: an unbounded wait fails here, not at the
	// proxy's close.
	c.SetDeadline(time.Now().Add(10 * dialTimeout))
	code, body := httpRoundTrip(t, c, bufio.NewReader(c), "CONNECT 10.99.0.1:12 HTTP/1.1\r\nHost: 10.99.0.1:12\r\n\r\n")
	if code != http.StatusBadGateway || !strings.Contains(body, "connection refused") {
		t.Fatalf("%d %q, want 502 connection refused", code, body)
	}
	s := dialProxy(t, tun)
	s.SetDeadline(time.Now().Add(10 * dialTimeout))
	if code, _ := socksHandshake(t, s, socksRequest(socksCmdConnect, edgeV4.String(), portClosed)); code != socksRefused {
		t.Fatalf("SOCKS5 reply code %d, want %d", code, socksRefused)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(budgets) != 2 {
		t.Fatalf("ExplainRefusal asked %d times, want 2", len(budgets))
	}
	for _, b := range budgets {
		if b < 0 || b > dialTimeout {
			t.Fatalf("ExplainRefusal's context had %v left, want a deadline within the dial timeout %v", b, dialTimeout)
		}
	}
}
