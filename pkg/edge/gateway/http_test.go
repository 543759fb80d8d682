package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

var gitHTTP = netip.AddrPortFrom(gitIP, 80)

// upstream is an HTTP server that counts its connections and echoes what
// it was asked.
type upstream struct {
	*httptest.Server
	conns atomic.Int64
}

func startUpstream(t testing.TB) *upstream {
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s host=%s body=%q", r.Method, r.URL.RequestURI(), r.Host, body)
	}))
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.URL, "http://") }

// handled runs the Gateway's verdict on flow over a real loopback TCP
// connection, dialing target for the upstream, and returns the client's
// end of the connection.
func handled(t testing.TB, g *Gateway, flow wg.Flow, target string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	v := g.DecideFlow(ctx, flow)
	if v.Action != wg.Handle {
		cancel()
		t.Fatalf("verdict %+v; want handle", v)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var wait sync.WaitGroup
	wait.Add(1)
	go func() {
		defer wait.Done()
		defer server.Close()
		v.Handler(ctx, server, func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", target)
		})
	}()
	t.Cleanup(func() {
		cancel()
		client.Close()
		wait.Wait()
	})
	client.SetDeadline(time.Now().Add(waitTimeout))
	return client
}

// roundTrip writes a raw request on c and reads the response.
func roundTrip(t testing.TB, c net.Conn, br *bufio.Reader, raw string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

func get(host, path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: test\r\n\r\n"
}

func TestS3_HTTPKeepAliveGetsBlockPageAfterExpiry(t *testing.T) {
	up := startUpstream(t)
	f := newFixture(t, policies(gitRule))
	c := handled(t, f.g, tcpFlow("dev-alice", gitHTTP), up.addr())
	br := bufio.NewReader(c)

	for _, path := range []string{"/repo.git/info/refs?service=git-upload-pack", "/second"} {
		resp, body := roundTrip(t, c, br, get("git.acme.internal", path))
		if resp.StatusCode != 200 || body != fmt.Sprintf("GET %s host=git.acme.internal body=\"\"", path) {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("upstream saw %d connections for two requests; want one, reused", n)
	}

	f.clock.Advance(time.Hour + time.Second)
	for range 2 { // the connection stays usable after a block page
		resp, body := roundTrip(t, c, br, get("git.acme.internal", "/third"))
		if resp.StatusCode != http.StatusForbidden || resp.Close {
			t.Fatalf("after expiry: %d close=%v; want 403 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		for _, want := range []string{"Session expired", `href="http://acme.localhost:8781/cdn-cgi/access/refresh-identity"`, "Git over HTTP", "1h0m0s"} {
			if !strings.Contains(body, want) {
				t.Fatalf("block page lacks %q:\n%s", want, body)
			}
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("block page Content-Type %q", ct)
		}
	}
	f.sink.waitFor(t, "one http signal", func(ds []Decision, ss []SessionExpired) bool {
		return len(ss) == 1 && ss[0].Filter == policy.FilterHTTP && ss[0].PolicyID == "git" && len(ds) == 5
	})
	ds, _ := f.sink.snapshot()
	// The L4 decision, then one per request.
	if ds[0].Filter != policy.FilterL4 || ds[1].Filter != policy.FilterHTTP || ds[1].Host != "git.acme.internal" ||
		ds[1].Method != "GET" || ds[1].Path != "/repo.git/info/refs" || ds[4].Reason != "session_expired" {
		t.Fatalf("audit %+v", ds)
	}
	for _, d := range ds {
		if strings.Contains(fmt.Sprint(d), "service=git-upload-pack") {
			t.Fatalf("audit record holds a query string: %+v", d)
		}
	}

	// Re-authentication: the same connection works again.
	f.devs.reauth("dev-alice", f.clock.Now())
	if resp, _ := roundTrip(t, c, br, get("git.acme.internal", "/again")); resp.StatusCode != 200 {
		t.Fatalf("after re-authentication: %d", resp.StatusCode)
	}
}

func TestHTTPBlockPolicyByPathKeepsConnection(t *testing.T) {
	up := startUpstream(t)
	admin := policy.Rule{ID: "admin", Name: "No admin", Precedence: 1, Enabled: true, Action: policy.ActionBlock,
		Filters: []policy.Filter{policy.FilterHTTP}, Traffic: `http.request.uri.path matches "^/admin"`,
		BlockReason: "Admin pages are <off limits>."}
	f := newFixture(t, policies(admin, gitRule))
	c := handled(t, f.g, tcpFlow("dev-bob", gitHTTP), up.addr())
	br := bufio.NewReader(c)

	post := "POST /admin/x HTTP/1.1\r\nHost: git.acme.internal\r\nContent-Length: 5\r\n\r\nhello"
	resp, body := roundTrip(t, c, br, post)
	if resp.StatusCode != 403 || !strings.Contains(body, "Admin pages are &lt;off limits&gt;.") || strings.Contains(body, "Session expired") {
		t.Fatalf("blocked POST: %d %q", resp.StatusCode, body)
	}
	// Bob is not an engineer: the git policy does not match him, and
	// Gateway allows what no policy blocks.
	resp, body = roundTrip(t, c, br, get("git.acme.internal", "/"))
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "GET / ") {
		t.Fatalf("GET after a blocked POST: %d %q", resp.StatusCode, body)
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("upstream connections %d; want 1 (the blocked request never reached it)", n)
	}
}

func TestHTTPExpectContinueAndBody(t *testing.T) {
	up := startUpstream(t)
	f := newFixture(t, policies(gitRule))
	c := handled(t, f.g, tcpFlow("dev-alice", gitHTTP), up.addr())
	br := bufio.NewReader(c)
	io.WriteString(c, "POST /push HTTP/1.1\r\nHost: git.acme.internal\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("interim response %q, %v; want 100 Continue", line, err)
	}
	br.ReadString('\n') // the blank line ending it
	resp, body := roundTrip(t, c, br, "data")
	if resp.StatusCode != 200 || body != `POST /push host=git.acme.internal body="data"` {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestHTTPUpstreamDownGives502(t *testing.T) {
	f := newFixture(t, policies(gitRule))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	c := handled(t, f.g, tcpFlow("dev-alice", gitHTTP), dead)
	br := bufio.NewReader(c)
	if resp, _ := roundTrip(t, c, br, get("git.acme.internal", "/")); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("%d; want 502", resp.StatusCode)
	}
}

func TestHTTPFlowsOnlyParsedWhenHTTPPoliciesExist(t *testing.T) {
	f := newFixture(t, policies(wikiRule))
	if v := f.g.DecideFlow(t.Context(), tcpFlow("dev-alice", gitHTTP)); v.Action != wg.Forward {
		t.Fatalf("no HTTP policies: %+v; want forward (spliced)", v)
	}
	f = newFixture(t, policies(wikiRule), func(o *Options) { o.Requests = nopHook{} })
	if v := f.g.DecideFlow(t.Context(), tcpFlow("dev-alice", gitHTTP)); v.Action != wg.Handle {
		t.Fatalf("with a request hook: %+v; want handle", v)
	}
}

type nopHook struct{}

func (nopHook) HookRequest(context.Context, *http.Request, Requester) *http.Response { return nil }

// accessStub answers requests for one host itself, as the Access gate will.
type accessStub struct{ host string }

func (a accessStub) HookRequest(_ context.Context, req *http.Request, from Requester) *http.Response {
	if req.Host != a.host {
		req.Header.Set("Cf-Access-Authenticated-User-Email", from.Identity.Email)
		return nil
	}
	return plainResponse(req, http.StatusFound, "login first\n", false)
}

func TestRequestHookSeam(t *testing.T) {
	up := startUpstream(t)
	f := newFixture(t, policies(), func(o *Options) { o.Requests = accessStub{host: "wiki.acme.internal"} })
	c := handled(t, f.g, tcpFlow("dev-alice", gitHTTP), up.addr())
	br := bufio.NewReader(c)
	if resp, body := roundTrip(t, c, br, get("wiki.acme.internal", "/")); resp.StatusCode != http.StatusFound || body != "login first\n" {
		t.Fatalf("hook's answer: %d %q", resp.StatusCode, body)
	}
	if resp, _ := roundTrip(t, c, br, get("git.acme.internal", "/")); resp.StatusCode != 200 {
		t.Fatalf("forwarded request: %d", resp.StatusCode)
	}
}

func TestHTTPBadRequestCloses(t *testing.T) {
	up := startUpstream(t)
	f := newFixture(t, policies(gitRule))
	c := handled(t, f.g, tcpFlow("dev-alice", gitHTTP), up.addr())
	br := bufio.NewReader(c)
	resp, _ := roundTrip(t, c, br, "NOT HTTP AT ALL\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%d; want 400", resp.StatusCode)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after a bad request: %v", err)
	}
}

// TestHTTPStreamedResponseIsNotHeldBack: a response the upstream streams
// reaches the client piece by piece, not when the Gateway's buffer fills.
func TestHTTPStreamedResponseIsNotHeldBack(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "second\n")
	}))
	t.Cleanup(s.Close)
	f := newFixture(t, policies(gitRule))
	c := handled(t, f.g, tcpFlow("dev-alice", gitHTTP), strings.TrimPrefix(s.URL, "http://"))
	br := bufio.NewReader(c)
	io.WriteString(c, get("git.acme.internal", "/stream"))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb := bufio.NewReader(resp.Body)
	if line, err := rb.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first chunk %q, %v", line, err)
	}
	close(release)
	if line, err := rb.ReadString('\n'); err != nil || line != "second\n" {
		t.Fatalf("second chunk %q, %v", line, err)
	}
}
