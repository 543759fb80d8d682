// Package integration runs the agent's tunnel against the edge's forwarding
// stack in one process: a real WireGuard handshake over loopback UDP, the
// agent's SOCKS5/HTTP proxy on one side, loopback upstreams on the other.
package integration

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/proxy"

	"github.com/ztagent/ztagent/internal/testenv/loopback"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/edge/wg"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

func TestMain(m *testing.M) {
	if os.Getenv(agentChildEnv) != "" {
		os.Exit(runAgentChild())
	}
	goleak.VerifyTestMain(m)
}

// ioTimeout bounds each wait on the tunnel, the edge or the agent process;
// it is only reached when one of them fails, however busy the machine.
const ioTimeout = 30 * time.Second

var (
	resolver   = netip.MustParseAddr("100.96.0.1")
	deviceAddr = netip.MustParsePrefix("100.96.0.2/32")
	wikiVIP    = netip.MustParseAddr("10.0.0.10")
	webVIP     = netip.MustParseAddr("10.0.0.20")
)

// env is an edge, an agent tunnel registered with it, and the upstreams.
type env struct {
	edge    *wg.Server
	tun     *tunnel.Tunnel
	refuse  atomic.Bool  // when set, the hook refuses every new flow
	decided atomic.Int64 // how many flows the hook saw
}

func startEnv(t testing.TB) *env {
	t.Helper()
	echo := startTCPEcho(t)
	udpEcho := startUDPEcho(t)
	sink := loopback.Sink(t)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "wiki page %s for %s", r.URL.Path, r.Host)
	}))
	t.Cleanup(web.Close)

	e := &env{}
	edgeKey, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	e.edge, err = wg.New(wg.Config{
		ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"),
		PrivateKey: edgeKey,
		Network: wg.Network{
			Resolver: resolver,
			Records: []wg.Record{
				{Name: "wiki.acme.internal", Addresses: []netip.Addr{wikiVIP}},
				{Name: "web.acme.internal", Addresses: []netip.Addr{webVIP}},
			},
			Upstreams: []wg.Upstream{
				{Address: netip.AddrPortFrom(wikiVIP, 22), Protocol: wg.TCP, Target: echo},
				{Address: netip.AddrPortFrom(wikiVIP, 7), Protocol: wg.UDP, Target: udpEcho},
				{Address: netip.AddrPortFrom(webVIP, 80), Protocol: wg.TCP, Target: strings.TrimPrefix(web.URL, "http://")},
				{Address: netip.MustParseAddrPort("10.0.0.30:9"), Protocol: wg.TCP, Target: sink},
			},
		},
		FlowHook: wg.FlowHookFunc(func(ctx context.Context, f wg.Flow) wg.Verdict {
			e.decided.Add(1)
			if e.refuse.Load() {
				return wg.Verdict{Action: wg.Refuse, Reason: "test refuses"}
			}
			return wg.Verdict{Action: wg.Forward}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.edge.Close() })

	agentKey, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	agentPub := agentKey.Public()
	if err := e.edge.AddPeer(wg.Peer{PublicKey: agentPub, DeviceID: "dev-1", Addresses: []netip.Prefix{deviceAddr}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	e.tun, err = tunnel.New(ctx, tunnel.Config{
		PrivateKey: agentKey,
		Tunnel: session.Tunnel{
			Endpoint:      e.edge.Addr().String(),
			EdgePublicKey: e.edge.PublicKey().String(),
			Addresses:     []string{deviceAddr.String()},
			DNS:           []string{resolver.String()},
			AllowedIPs:    []string{"10.0.0.0/8", "100.96.0.0/12"},
			MTU:           1280,
		},
	}, tunnel.Options{Mode: tunnel.ModeProxy, ProxyAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.tun.Close() })
	return e
}

func startTCPEcho(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func startUDPEcho(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

func (e *env) socksDial(t *testing.T, addr string) (net.Conn, error) {
	t.Helper()
	d, err := proxy.SOCKS5("tcp", e.tun.ProxyAddr(), nil, &net.Dialer{Timeout: ioTimeout})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.(proxy.ContextDialer).DialContext(context.Background(), "tcp", addr)
	if err == nil {
		c.SetDeadline(time.Now().Add(ioTimeout))
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo read: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// TestTCPThroughSOCKS5ByNameAndAddress resolves the name through the tunnel's
// DNS (the edge resolver answers the simulator's record) and by address.
func TestTCPThroughSOCKS5ByNameAndAddress(t *testing.T) {
	e := startEnv(t)
	for _, dst := range []string{"wiki.acme.internal:22", "10.0.0.10:22"} {
		c, err := e.socksDial(t, dst)
		if err != nil {
			t.Fatalf("SOCKS5 %s: %v", dst, err)
		}
		echo(t, c, "hello through the tunnel to "+dst)
	}
	if _, err := e.socksDial(t, "nowhere.acme.internal:22"); err == nil {
		t.Fatal("a name the edge resolver does not know was dialled")
	}
}

func TestHTTPProxyForwardAndConnect(t *testing.T) {
	e := startEnv(t)
	proxyURL := &url.URL{Scheme: "http", Host: e.tun.ProxyAddr()}
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: ioTimeout}
	for i := 0; i < 2; i++ { // the second request reuses the keep-alive connection
		resp, err := client.Get("http://web.acme.internal/page")
		if err != nil {
			t.Fatalf("GET through the HTTP proxy: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "wiki page /page for web.acme.internal" {
			t.Fatalf("response %d %q", resp.StatusCode, body)
		}
	}

	c, err := net.DialTimeout("tcp", e.tun.ProxyAddr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	fmt.Fprintf(c, "CONNECT wiki.acme.internal:22 HTTP/1.1\r\nHost: wiki.acme.internal:22\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	if _, err := io.WriteString(c, "over CONNECT"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("over CONNECT"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "over CONNECT" {
		t.Fatalf("CONNECT echo %q %v", got, err)
	}
}

// TestUDPThroughSOCKS5Associate sends a datagram to the UDP echo upstream
// through a SOCKS5 UDP association.
func TestUDPThroughSOCKS5Associate(t *testing.T) {
	e := startEnv(t)
	ctrl, err := net.DialTimeout("tcp", e.tun.ProxyAddr(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()
	ctrl.SetDeadline(time.Now().Add(ioTimeout))
	relay := socksUDPAssociate(t, ctrl)

	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(ioTimeout))
	// RSV RSV FRAG, ATYP=1 (IPv4), 10.0.0.10, port 7, payload.
	dg := []byte{0, 0, 0, 1, 10, 0, 0, 10, 0, 7}
	dg = append(dg, "datagram through the tunnel"...)
	if _, err := u.WriteToUDPAddrPort(dg, relay); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, _, err := u.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("UDP reply: %v", err)
	}
	if n < 10 || string(buf[10:n]) != "datagram through the tunnel" {
		t.Fatalf("UDP reply %q", buf[:n])
	}
}

// socksUDPAssociate performs the no-auth greeting and UDP ASSOCIATE on ctrl
// and returns the relay address.
func socksUDPAssociate(t *testing.T, ctrl net.Conn) netip.AddrPort {
	t.Helper()
	if _, err := ctrl.Write([]byte{5, 1, 0}); err != nil {
		t.Fatal(err)
	}
	greet := make([]byte, 2)
	if _, err := io.ReadFull(ctrl, greet); err != nil || greet[1] != 0 {
		t.Fatalf("greeting %v %v", greet, err)
	}
	if _, err := ctrl.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(ctrl, head); err != nil || head[1] != 0 {
		t.Fatalf("UDP ASSOCIATE reply %v %v", head, err)
	}
	var ip []byte
	switch head[3] {
	case 1:
		ip = make([]byte, 4)
	case 4:
		ip = make([]byte, 16)
	default:
		t.Fatalf("relay address type %d", head[3])
	}
	port := make([]byte, 2)
	if _, err := io.ReadFull(ctrl, ip); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ctrl, port); err != nil {
		t.Fatal(err)
	}
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), binary.BigEndian.Uint16(port))
}

// TestS7EstablishedFlowSurvivesRefusal: once the edge starts refusing new
// flows (a session expired), an open TCP connection keeps echoing while a new
// connection to the same destination is refused.
func TestS7EstablishedFlowSurvivesRefusal(t *testing.T) {
	e := startEnv(t)
	open, err := e.socksDial(t, "10.0.0.10:22")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, open, "before expiry")
	before := e.decided.Load()

	e.refuse.Store(true)
	if _, err := e.socksDial(t, "10.0.0.10:22"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("new connection after the edge began refusing: err = %v, want the SOCKS5 reply 'connection refused' (the edge's RST)", err)
	}
	for i := 0; i < 3; i++ {
		echo(t, open, fmt.Sprintf("still connected %d", i))
	}
	if got := e.decided.Load() - before; got != 1 {
		t.Fatalf("the hook saw %d flows after expiry, want 1 (the refused one): established flows must not be re-decided", got)
	}
}
