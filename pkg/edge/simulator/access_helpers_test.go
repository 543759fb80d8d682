package simulator

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

// engineersTF adds to the example an application whose policy requires the
// engineering group, at eng.acme.internal (10.0.0.30), for S9's "groups
// keep bob out". The group selector's id is the IdP group's name: the
// simulator has no Access groups (see pkg/edge/accessgate).
const engineersTF = `
resource "cloudflare_zero_trust_access_policy" "engineers" {
  account_id = var.cloudflare_account_id
  name       = "Engineers only"
  decision   = "allow"
  include = [
    { email_domain = { domain = "example.com" } },
  ]
  require = [
    { group = { id = "engineering" } },
  ]
}

resource "cloudflare_zero_trust_access_application" "eng" {
  account_id = var.cloudflare_account_id
  name       = "Engineering dashboard"
  type       = "self_hosted"
  domain     = "eng.acme.internal"
  policies = [
    { id = cloudflare_zero_trust_access_policy.engineers.id, precedence = 1 },
  ]
}
`

// origin is an Access-protected web server that records the headers of
// every request it receives.
type origin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startOrigin(t *testing.T, name string) *origin {
	t.Helper()
	o := &origin{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, r.Header.Clone())
		o.mu.Unlock()
		fmt.Fprintf(w, "%s: %s %s", name, r.Method, r.URL.Path)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) addr() string { return o.srv.Listener.Addr().String() }

// last returns the headers of the last request, failing when there was
// none.
func (o *origin) last(t *testing.T) http.Header {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		t.Fatal("the origin received no request")
	}
	return o.seen[len(o.seen)-1]
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

// routeWiki points the wiki's upstream (10.0.0.10:80) at o.
func (tc *testConfig) routeWiki(t *testing.T, o *origin) {
	t.Helper()
	tc.writeSim(t, strings.ReplaceAll(tc.readSim(t), tc.wiki.Listener.Addr().String(), o.addr()))
}

// routeGit points the git server's upstream (10.0.0.20:80) at o.
func (tc *testConfig) routeGit(t *testing.T, o *origin) {
	t.Helper()
	tc.writeSim(t, strings.ReplaceAll(tc.readSim(t), tc.git.Listener.Addr().String(), o.addr()))
}

// addEngineers adds the engineers-only application and its address, served
// by o.
func (tc *testConfig) addEngineers(t *testing.T, o *origin) {
	t.Helper()
	tc.writeTF(t, tc.readTF(t)+engineersTF)
	sim := tc.readSim(t)
	const anchor = `  upstream "10.0.0.10:80" {`
	if !strings.Contains(sim, anchor) {
		t.Fatal("the example simulator file changed shape; update the test")
	}
	tc.writeSim(t, strings.Replace(sim, anchor, `  record "eng.acme.internal" {
    addresses = ["10.0.0.30"]
  }

  upstream "10.0.0.30:80" {
    target = "`+o.addr()+`"
  }

`+anchor, 1))
}

// fetch is one request through the tunnel's HTTP proxy that does not
// follow redirects.
type fetched struct {
	status   int
	location string
	body     string
}

func fetchThrough(t *testing.T, tun *tunnel.Tunnel, rawURL string, hdr http.Header) fetched {
	t.Helper()
	proxy, _ := url.Parse("http://" + tun.ProxyAddr())
	c := &http.Client{
		Transport:     &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true},
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s through the tunnel: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s through the tunnel: reading the body: %v", rawURL, err)
	}
	return fetched{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b)}
}

// browserThrough returns a scripted browser whose every request goes
// through the tunnel's HTTP proxy, as a browser on a device in proxy mode:
// the application, the team domain and the IdP are all reached through the
// tunnel.
func browserThrough(t *testing.T, tun *tunnel.Tunnel) *scriptbrowser.Browser {
	t.Helper()
	b, err := scriptbrowser.New(scriptbrowser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	proxy, _ := url.Parse("http://" + tun.ProxyAddr())
	tr, ok := b.Client().Transport.(*http.Transport)
	if !ok {
		t.Fatalf("the scripted browser's transport is a %T; update the test", b.Client().Transport)
	}
	tr.Proxy = http.ProxyURL(proxy)
	return b
}

// dialRefused reports whether a new TCP connection to addr through the
// tunnel is refused; an accepted one is closed.
func dialRefused(t *testing.T, tun *tunnel.Tunnel, addr string) bool {
	t.Helper()
	c, err := tun.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// lookupThrough asks the edge resolver for name's A records over TCP
// through the tunnel.
func lookupThrough(t *testing.T, tun *tunnel.Tunnel, resolver, name string) []netip.Addr {
	t.Helper()
	c, err := tun.DialContext(t.Context(), "tcp", net.JoinHostPort(resolver, "53"))
	if err != nil {
		t.Fatalf("connect to the edge resolver through the tunnel: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	dc := &dns.Conn{Conn: c}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if err := dc.WriteMsg(m); err != nil {
		t.Fatalf("DNS query for %s: %v", name, err)
	}
	r, err := dc.ReadMsg()
	if err != nil {
		t.Fatalf("DNS answer for %s: %v", name, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		t.Fatalf("DNS answer for %s: %s", name, dns.RcodeToString[r.Rcode])
	}
	var out []netip.Addr
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ip, _ := netip.AddrFromSlice(a.A.To4())
			out = append(out, ip)
		}
	}
	return out
}

// advance moves the simulated time through the admin API.
func advance(t *testing.T, s *Simulator, d time.Duration) {
	t.Helper()
	if _, err := adminClient(s).AdvanceClock(t.Context(), d); err != nil {
		t.Fatal(err)
	}
}
