package wg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/ztagent/ztagent/internal/wgkey"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkLeaks verifies, after every other cleanup of t has run (cleanups
// run last-registered first), that no goroutine outlives the test.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// waitTimeout bounds every wait in these tests; nothing should come close.
const waitTimeout = 20 * time.Second

var (
	echoIP      = netip.MustParseAddr("10.0.0.10")
	echoAddr    = netip.AddrPortFrom(echoIP, 7)
	noUpstream  = netip.MustParseAddrPort("10.0.0.99:7")
	teamAddr    = netip.AddrPortFrom(DefaultResolver, 8781)
	clientAddr  = netip.MustParseAddr("100.96.0.2")
	client2Addr = netip.MustParseAddr("100.96.0.3")
)

// waitFlows waits until the edge has n open flows.
func waitFlows(t testing.TB, s *Server, n int) {
	t.Helper()
	ctx := t.Context()
	for {
		got, changed := s.flows.watch()
		if got == n {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("edge has %d open flows; waited for %d", got, n)
		}
	}
}

// servers are loopback upstreams: a TCP echo, a UDP echo and a stand-in
// for the team domain that greets with its name.
type servers struct {
	tcpEcho  net.Listener
	udpEcho  net.PacketConn
	team     net.Listener
	teamConn chan net.Conn // accepted team-domain conns, for FlowByUpstream
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startServers(t testing.TB) *servers {
	s := &servers{teamConn: make(chan net.Conn, 16)}
	var err error
	if s.tcpEcho, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if s.udpEcho, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if s.team, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.serve(s.tcpEcho, func(c net.Conn) { io.Copy(c, c) })
	s.serve(s.team, func(c net.Conn) {
		select {
		case s.teamConn <- c:
		default:
		}
		fmt.Fprintf(c, "team domain\n")
		io.Copy(io.Discard, c)
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := s.udpEcho.ReadFrom(buf)
			if err != nil {
				return
			}
			s.udpEcho.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *servers) serve(l net.Listener, h func(net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				h(c)
			}()
		}
	}()
}

func (s *servers) close() {
	s.tcpEcho.Close()
	s.udpEcho.Close()
	s.team.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *servers) network() Network {
	return Network{
		Records: []Record{
			{Name: "echo.acme.internal", Addresses: []netip.Addr{echoIP}},
			{Name: "dual.acme.internal.", Addresses: []netip.Addr{echoIP, netip.MustParseAddr("fd00::10")}},
		},
		Upstreams: []Upstream{
			{Address: echoAddr, Protocol: TCP, Target: s.tcpEcho.Addr().String()},
			{Address: echoAddr, Protocol: UDP, Target: s.udpEcho.LocalAddr().String()},
		},
		Services: []Service{
			{Names: []string{"acme.localhost"}, Address: teamAddr, Target: s.team.Addr().String()},
		},
	}
}

// hook records every flow it is asked about and answers with the verdict
// it is set to.
type hook struct {
	verdict atomic.Pointer[Verdict]
	mu      sync.Mutex
	flows   []Flow
	asked   chan Flow
}

func newHook(v Verdict) *hook {
	h := &hook{asked: make(chan Flow, 1024)}
	h.set(v)
	return h
}

func (h *hook) set(v Verdict) { h.verdict.Store(&v) }

func (h *hook) DecideFlow(ctx context.Context, f Flow) Verdict {
	h.mu.Lock()
	h.flows = append(h.flows, f)
	h.mu.Unlock()
	select {
	case h.asked <- f:
	default:
	}
	return *h.verdict.Load()
}

func (h *hook) calls() []Flow {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Flow(nil), h.flows...)
}

var (
	forward = Verdict{Action: Forward, Reason: "test allows"}
	refuse  = Verdict{Action: Refuse, Reason: "test refuses"}
)

// newEdge starts an edge on an ephemeral loopback port and closes it at
// cleanup.
func newEdge(t testing.TB, cfg Config) *Server {
	t.Helper()
	if !cfg.ListenAddr.IsValid() {
		cfg.ListenAddr = netip.MustParseAddrPort("127.0.0.1:0")
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client is a stock wireguard-go netstack peer: what any WireGuard client
// does, with a real handshake over loopback UDP.
type client struct {
	net *netstack.Net
	dev *device.Device
	key wgkey.Public
	// unreachable receives the ICMP port unreachable messages the client
	// gets (the stock netstack does not report them on a socket).
	unreachable chan []byte
}

// sniffTUN watches the packets the client's device delivers to its stack.
type sniffTUN struct {
	tun.Device
	unreachable chan []byte
}

// Write reports after the stack has taken the packets (the stock netstack
// processes them synchronously), so that a test that saw the ICMP message
// knows the client's socket has seen it too.
func (s *sniffTUN) Write(bufs [][]byte, offset int) (int, error) {
	var seen [][]byte
	for _, b := range bufs {
		if p := b[offset:]; isPortUnreachable(p) {
			seen = append(seen, append([]byte(nil), p...))
		}
	}
	n, err := s.Device.Write(bufs, offset)
	for _, p := range seen {
		select {
		case s.unreachable <- p:
		default:
		}
	}
	return n, err
}

// isPortUnreachable reports whether p is an ICMP (v4 or v6) port
// unreachable message.
func isPortUnreachable(p []byte) bool {
	switch {
	case len(p) >= header.IPv4MinimumSize && p[0]>>4 == 4:
		ip := header.IPv4(p)
		if ip.Protocol() != uint8(header.ICMPv4ProtocolNumber) || len(ip.Payload()) < header.ICMPv4MinimumSize {
			return false
		}
		icmp := header.ICMPv4(ip.Payload())
		return icmp.Type() == header.ICMPv4DstUnreachable && icmp.Code() == header.ICMPv4PortUnreachable
	case len(p) >= header.IPv6MinimumSize && p[0]>>4 == 6:
		ip := header.IPv6(p)
		if ip.TransportProtocol() != header.ICMPv6ProtocolNumber || len(ip.Payload()) < header.ICMPv6MinimumSize {
			return false
		}
		icmp := header.ICMPv6(ip.Payload())
		return icmp.Type() == header.ICMPv6DstUnreachable && icmp.Code() == header.ICMPv6PortUnreachable
	}
	return false
}

func newClient(t testing.TB, edge *Server, addr netip.Addr, deviceID string, more ...netip.Addr) *client {
	t.Helper()
	priv, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return newClientWithKey(t, edge, priv, append([]netip.Addr{addr}, more...), deviceID)
}

// newClientWithKey is newClient with a private key the test chose.
func newClientWithKey(t testing.TB, edge *Server, priv wgkey.Private, addrs []netip.Addr, deviceID string) *client {
	t.Helper()
	tunDev, tnet, err := netstack.CreateNetTUN(addrs, []netip.Addr{edge.Resolver()}, edge.MTU())
	if err != nil {
		t.Fatal(err)
	}
	sniff := &sniffTUN{Device: tunDev, unreachable: make(chan []byte, 64)}
	dev := device.NewDevice(sniff, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	pub := priv.Public()
	edgeAddr := edge.Addr()
	if edgeAddr.Addr().IsUnspecified() {
		edgeAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), edgeAddr.Port())
	}
	err = dev.IpcSet(fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=%s\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\n",
		priv.UAPIHex(), edge.PublicKey().UAPIHex(), edgeAddr))
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Up(); err != nil {
		t.Fatal(err)
	}
	c := &client{net: tnet, dev: dev, key: pub, unreachable: sniff.unreachable}
	t.Cleanup(c.close)
	var pfxs []netip.Prefix
	for _, a := range addrs {
		pfxs = append(pfxs, netip.PrefixFrom(a, a.BitLen()))
	}
	if err := edge.AddPeer(Peer{PublicKey: pub, DeviceID: deviceID, Addresses: pfxs}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *client) close() { c.dev.Close() }

func (c *client) dialTCP(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	return c.net.DialContextTCPAddrPort(ctx, dst)
}

// echo writes a line on c and checks that it comes back.
func echo(t testing.TB, c net.Conn, line string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		t.Fatalf("write %q: %v", line, err)
	}
	got, err := bufio.NewReader(io.LimitReader(c, int64(len(line)+1))).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo of %q = %q, %v", line, got, err)
	}
}

// expectRefused dials dst and expects a connection refused (RST). The
// error is the proof that a RST came: a SYN that was dropped or left
// unanswered ends the dial at its deadline instead, however fast or busy
// the machine.
func expectRefused(t testing.TB, c *client, dst netip.AddrPort) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, err := c.dialTCP(ctx, dst)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %v succeeded; want connection refused", dst)
	}
	if !isRefused(err) {
		t.Fatalf("dial %v: %v; want connection refused", dst, err)
	}
}

func isRefused(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == "connection was refused" {
			return true
		}
	}
	return false
}
