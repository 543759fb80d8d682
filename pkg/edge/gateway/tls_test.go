package gateway

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/policy"
)

var webTLS = netip.MustParseAddrPort("10.0.0.50:443")

func startTLSUpstream(t testing.TB) string {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %s", r.Host)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "https://")
}

// tlsGet does a TLS handshake with sni over c and a GET of /.
func tlsGet(c net.Conn, sni string) (string, error) {
	tc := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return "", err
	}
	fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func sniRules() Policies {
	return policies(
		policy.Rule{ID: "sni", Name: "Block a site by SNI", Precedence: 1, Enabled: true, Action: policy.ActionBlock,
			Filters: []policy.Filter{policy.FilterL4}, Traffic: `net.sni.host == "blocked.example"`},
		policy.Rule{ID: "rest", Name: "Allow the rest", Precedence: 2, Enabled: true, Action: policy.ActionAllow,
			Filters: []policy.Filter{policy.FilterL4}},
	)
}

func TestL4PolicyOnSNIPeeksAndSplices(t *testing.T) {
	up := startTLSUpstream(t)
	f := newFixture(t, sniRules())
	body, err := tlsGet(handled(t, f.g, tcpFlow("dev-alice", webTLS), up), "ok.example")
	if err != nil || body != "tls ok.example" {
		t.Fatalf("allowed TLS flow: %q, %v; the peeked hello must reach the upstream intact", body, err)
	}
	if _, err := tlsGet(handled(t, f.g, tcpFlow("dev-alice", webTLS), up), "blocked.example"); err == nil {
		t.Fatal("TLS to blocked.example succeeded")
	}
	f.sink.waitFor(t, "two L4 decisions", func(ds []Decision, _ []SessionExpired) bool { return len(ds) == 2 })
	ds, _ := f.sink.snapshot()
	if ds[0].SNI != "ok.example" || ds[0].PolicyID != "rest" || ds[1].SNI != "blocked.example" || ds[1].PolicyID != "sni" || !ds[1].Blocked() {
		t.Fatalf("audit %+v", ds)
	}
}

func TestNoPeekWhenAnEarlierPolicyDecides(t *testing.T) {
	early := policy.Rule{ID: "ssh", Name: "SSH", Precedence: 0, Enabled: true, Action: policy.ActionAllow,
		Filters: []policy.Filter{policy.FilterL4}, Traffic: "net.dst.port == 22"}
	p := sniRules()
	p.Rules = append(p.Rules, early)
	f := newFixture(t, p)
	if v := f.g.DecideFlow(t.Context(), tcpFlow("dev-alice", wikiSSH)); v.Action != wg.Forward {
		t.Fatalf("SSH decided before any SNI policy: %+v; want forward without a peek", v)
	}
	if v := f.g.DecideFlow(t.Context(), tcpFlow("dev-alice", webTLS)); v.Action != wg.Handle {
		t.Fatalf("TLS flow that an SNI policy may decide: %+v; want handle", v)
	}
}

// TestPeekGivesUpForServerFirstProtocols: a protocol where the server
// speaks first (SSH, SMTP) gets no ClientHello; after PeekTimeout the flow
// is decided without an SNI and works.
func TestPeekGivesUpForServerFirstProtocols(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wait sync.WaitGroup
	wait.Add(1)
	go func() {
		defer wait.Done()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "SSH-2.0-test\r\n")
		io.Copy(c, c)
	}()
	t.Cleanup(func() { l.Close(); wait.Wait() })

	f := newFixture(t, sniRules(), func(o *Options) { o.PeekTimeout = 50 * time.Millisecond })
	c := handled(t, f.g, tcpFlow("dev-alice", wikiSSH), l.Addr().String())
	br := bufio.NewReader(c)
	if banner, err := br.ReadString('\n'); err != nil || banner != "SSH-2.0-test\r\n" {
		t.Fatalf("banner %q, %v", banner, err)
	}
	io.WriteString(c, "ping\n")
	if got, err := br.ReadString('\n'); err != nil || got != "ping\n" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

func TestHTTPPoliciesSeeTLSHostOnly(t *testing.T) {
	up := startTLSUpstream(t)
	webRule := policy.Rule{ID: "web", Name: "Web 1h", Precedence: 1, Enabled: true, Action: policy.ActionAllow,
		Filters: []policy.Filter{policy.FilterHTTP}, Traffic: `any(http.request.domains[*] == "example.com")`,
		Session: &policy.CheckSession{Enforce: true, Duration: time.Hour}}
	f := newFixture(t, policies(webRule))
	if body, err := tlsGet(handled(t, f.g, tcpFlow("dev-alice", webTLS), up), "www.example.com"); err != nil || body != "tls www.example.com" {
		t.Fatalf("before expiry: %q, %v", body, err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := tlsGet(handled(t, f.g, tcpFlow("dev-alice", webTLS), up), "www.example.com"); err == nil {
		t.Fatal("TLS flow allowed after its HTTP policy's session expired")
	}
	// Another host is outside the policy.
	if _, err := tlsGet(handled(t, f.g, tcpFlow("dev-alice", webTLS), up), "other.test"); err != nil {
		t.Fatalf("outside the policy: %v", err)
	}
	f.sink.waitFor(t, "the signal", func(ds []Decision, ss []SessionExpired) bool {
		return len(ss) == 1 && ss[0].Filter == policy.FilterHTTP
	})
	ds, _ := f.sink.snapshot()
	var hosts []string
	for _, d := range ds {
		if d.Filter == policy.FilterHTTP {
			hosts = append(hosts, d.Host+":"+d.Reason)
		}
	}
	if want := "www.example.com:allowed www.example.com:session_expired other.test:no_match"; strings.Join(hosts, " ") != want {
		t.Fatalf("HTTP decisions %v; want %s", hosts, want)
	}
}

func TestPeekSNIReplaysNonTLSBytes(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { io.WriteString(a, "GET / HTTP/1.1\r\n\r\n") }()
	// The peek ends at the first bytes that are not TLS; its timeout is
	// only reached if the writer never ran.
	sni, read := peekSNI(b, waitTimeout)
	if sni != "" || !strings.HasPrefix("GET / HTTP/1.1\r\n\r\n", string(read)) || len(read) == 0 {
		t.Fatalf("peek of plain HTTP: sni %q, read %q", sni, read)
	}
}

// TestPlainHTTPAfterSNIPeekIsStillParsed: when an SNI policy makes the
// Gateway peek at a flow to port 80, the HTTP policies still decide each
// request once the L4 policies allowed the flow.
func TestPlainHTTPAfterSNIPeekIsStillParsed(t *testing.T) {
	up := startUpstream(t)
	p := sniRules()
	p.Rules = append(p.Rules, gitRule)
	f := newFixture(t, p)
	c := handled(t, f.g, tcpFlow("dev-alice", gitHTTP), up.addr())
	br := bufio.NewReader(c)
	if resp, body := roundTrip(t, c, br, get("git.acme.internal", "/x")); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /x ") {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	f.clock.Advance(2 * time.Hour)
	if resp, body := roundTrip(t, c, br, get("git.acme.internal", "/y")); resp.StatusCode != 403 || !strings.Contains(body, "Session expired") {
		t.Fatalf("after expiry: %d %q", resp.StatusCode, body)
	}
}

// detectProtocol works on as little as crypto/tls reads of a stream that
// is not TLS (five bytes).
func TestDetectProtocol(t *testing.T) {
	for in, want := range map[string]string{
		"\x16\x03\x01\x02\x00": "tls", "SSH-2": "ssh", "SSH-2.0-x\r\n": "ssh",
		"GET /": "http", "DELET": "http", "OPTIO": "http", "POST / HTTP/1.1": "http", "PUT /": "http",
		"GETX ": "", "EHLO ": "", "SSH": "", "": "", "\x00\x00\x00\x00\x00": "", "GE": "",
	} {
		if got := detectProtocol([]byte(in)); got != want {
			t.Errorf("detectProtocol(%q) = %q, want %q", in, got, want)
		}
	}
}
