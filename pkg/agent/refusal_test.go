package agent

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// TestIntegrationExpiredSessionThroughProxy: with the real edge, tunnel and
// proxy, once the clock passes the wiki's network policy duration, the
// HTTP proxy answers a request to the wiki with 403 naming that policy and
// what to do, and a SOCKS5 CONNECT gets reply 02 (not allowed by ruleset);
// a destination the edge refuses for another reason (no upstream behind
// it) still gets the network error, expired session or not. The agent
// knows of the expiry from the edge's clock_changed, before any flow.
func TestIntegrationExpiredSessionThroughProxy(t *testing.T) {
	e := newSimEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	if _, err := e.register(1000, alice); err != nil {
		t.Fatal(err)
	}
	proxyAddr := e.waitState(ipcproto.StateConnected).Tunnel.ProxyAddr
	// Past "Company Wiki Network policy" (l4, 1h30m) on 10.0.0.10.
	// Before the clock moves, a refused connection is a network error
	// and costs the edge no question.
	if status, _, body := getViaProxy(t, proxyAddr, "http://10.0.0.20:81/"); status != http.StatusBadGateway {
		t.Fatalf("GET a closed port before expiry: %d %q, want 502", status, body)
	}
	if _, err := e.admin().AdvanceClock(t.Context(), 91*time.Minute); err != nil {
		t.Fatal(err)
	}
	// The edge announces the new time; the agent knows the session
	// expired before any flow is refused.
	if st := e.waitState(ipcproto.StateReauthRequired); !strings.Contains(st.Message, "Company Wiki Network policy") {
		t.Fatalf("reauth_required says %q, want the wiki's policy named", st.Message)
	}

	const wantLine = `ztagent proxy: session expired (policy "Company Wiki Network policy"): run agentctl reauth` + "\n"
	status, ctype, body := getViaProxy(t, proxyAddr, "http://wiki.acme.internal/")
	if status != http.StatusForbidden || body != wantLine || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("GET the wiki after expiry: %d %q %q, want 403 text/plain %q", status, ctype, body, wantLine)
	}
	if code := socks5Connect(t, proxyAddr, "wiki.acme.internal", 80); code != 0x02 {
		t.Fatalf("SOCKS5 CONNECT to the wiki after expiry: reply %#x, want 0x02 (not allowed by ruleset)", code)
	}

	// 10.0.0.20:81: no policy decides it, and no upstream is behind it.
	status, _, body = getViaProxy(t, proxyAddr, "http://10.0.0.20:81/")
	if status != http.StatusBadGateway || !strings.Contains(body, "connection refused") {
		t.Fatalf("GET a closed port: %d %q, want 502 connection refused", status, body)
	}
	if code := socks5Connect(t, proxyAddr, "10.0.0.20", 81); code != 0x05 {
		t.Fatalf("SOCKS5 CONNECT to a closed port: reply %#x, want 0x05 (refused)", code)
	}
}

// getViaProxy fetches rawURL through the HTTP proxy at proxyAddr.
func getViaProxy(t *testing.T, proxyAddr, rawURL string) (status int, contentType, body string) {
	t.Helper()
	proxy := &url.URL{Scheme: "http", Host: proxyAddr}
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	resp, err := c.Get(rawURL)
	if err != nil {
		t.Fatalf("GET %s through the proxy: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s through the proxy: read the body: %v", rawURL, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// socks5Connect is a minimal SOCKS5 client (RFC 1928, no authentication):
// it asks the proxy at proxyAddr to CONNECT to host:port and returns the
// reply code.
func socks5Connect(t *testing.T, proxyAddr, host string, port uint16) byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxyAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	req := []byte{5, 1, 0} // greeting: version 5, one method, no authentication
	req = append(req, 5, 1, 0)
	if ip := net.ParseIP(host).To4(); ip != nil {
		req = append(req, 1)
		req = append(req, ip...)
	} else {
		req = append(req, 3, byte(len(host)))
		req = append(req, host...)
	}
	req = binary.BigEndian.AppendUint16(req, port)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	// The method choice, then the reply's version, code and reserved byte.
	var r [5]byte
	if _, err := io.ReadFull(c, r[:]); err != nil {
		t.Fatalf("SOCKS5 CONNECT %s:%d: read the reply: %v", host, port, err)
	}
	if r[0] != 5 || r[1] != 0 || r[2] != 5 {
		t.Fatalf("SOCKS5 CONNECT %s:%d: reply %x", host, port, r)
	}
	return r[3]
}
