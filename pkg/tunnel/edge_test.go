package tunnel

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/session"
)

// The stand-in edge is wireguard-go's stock netstack device on loopback
// UDP, with a few services on its tunnel addresses. It knows nothing of
// pkg/tunnel, so a handshake with it is a real one.

var (
	edgeV4  = netip.MustParseAddr("10.99.0.1")
	edgeV6  = netip.MustParseAddr("fd00:99::1")
	agentV4 = netip.MustParseAddr("10.99.0.2")
	agentV6 = netip.MustParseAddr("fd00:99::2")
	// silentDNS receives DNS queries and never answers them.
	silentDNS = netip.MustParseAddr("10.99.0.53")
	// unanswered is inside the allowed IPs, but nothing has it: the edge
	// drops what is sent to it, so a TCP dial to it never completes.
	unanswered = netip.MustParseAddr("10.99.0.50")
)

const (
	portEcho   = 7  // TCP and UDP: echo
	portSink   = 9  // TCP: reads to EOF, then answers the byte count (8 bytes, big endian)
	portWhoami = 11 // TCP: writes the edge's name and closes
	portClosed = 12 // nothing listens
	portHTTP   = 80
	nameEcho   = "echo.edge.test" // A and AAAA records
	nameWeb    = "web.edge.test"  // A record only
)

// keyPair is a WireGuard (X25519) key pair.
type keyPair struct{ priv, pub []byte }

func newKeyPair(t testing.TB) keyPair {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{priv: k.Bytes(), pub: k.PublicKey().Bytes()}
}

func (k keyPair) privB64() string { return base64.StdEncoding.EncodeToString(k.priv) }
func (k keyPair) pubB64() string  { return base64.StdEncoding.EncodeToString(k.pub) }
func (k keyPair) privHex() string { return hex.EncodeToString(k.priv) }
func (k keyPair) pubHex() string  { return hex.EncodeToString(k.pub) }

// wgKey is the device key as the tunnel takes it.
func (k keyPair) wgKey() wgkey.Private {
	p, err := wgkey.ParsePrivate(secret.New(k.privB64()))
	if err != nil {
		panic(err)
	}
	return p
}

type edge struct {
	name       string
	key        keyPair
	dev        *device.Device
	tnet       *netstack.Net
	port       uint16
	dnsQueries atomic.Int64
	// silentQuery is closed when silentDNS receives its first query.
	silentQuery chan struct{}
	// unansweredSYN is closed when the edge receives the first TCP SYN to
	// unanswered: a dial to it is then in progress.
	unansweredSYN chan struct{}

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closers []func()
	wg      sync.WaitGroup
}

// startEdge runs a stand-in edge named name with the given key that accepts
// the agents' keys; t.Cleanup closes it.
func startEdge(t testing.TB, name string, key keyPair, agents ...keyPair) *edge {
	t.Helper()
	e := &edge{name: name, key: key, conns: make(map[net.Conn]struct{}), silentQuery: make(chan struct{}), unansweredSYN: make(chan struct{})}
	tdev, tnet, err := netstack.CreateNetTUN([]netip.Addr{edgeV4, edgeV6, silentDNS}, nil, 1420)
	if err != nil {
		t.Fatal(err)
	}
	e.tnet = tnet
	e.dev = device.NewDevice(&synWatch{Device: tdev, seen: e.unansweredSYN}, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	t.Cleanup(e.close)
	if err := e.dev.IpcSet("private_key=" + key.privHex() + "\nlisten_port=0\n"); err != nil {
		t.Fatal(err)
	}
	e.setAgents(t, agents...)
	if err := e.dev.Up(); err != nil {
		t.Fatal(err)
	}
	e.port = parseStats(mustIpcGet(t, e.dev)).ListenPort
	if e.port == 0 {
		t.Fatal("stand-in edge has no UDP port")
	}
	e.serveTCP(t, edgeV4, portEcho, e.echo)
	e.serveTCP(t, edgeV6, portEcho, e.echo)
	e.serveTCP(t, edgeV4, portSink, e.sink)
	e.serveTCP(t, edgeV4, portWhoami, e.whoami)
	e.serveUDPEcho(t, edgeV4)
	e.serveUDPEcho(t, edgeV6)
	e.serveDNS(t)
	e.serveSilentDNS(t)
	e.serveHTTP(t)
	return e
}

// synWatch is the edge's TUN device; it closes seen when a packet from the
// agent is the first TCP SYN to unanswered.
type synWatch struct {
	tun.Device
	seen chan struct{}
	once sync.Once
}

func (w *synWatch) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		p := b[offset:]
		if len(p) < 20 || p[0]>>4 != 4 || p[9] != 6 || netip.AddrFrom4([4]byte(p[16:20])) != unanswered {
			continue
		}
		if ihl := int(p[0]&0x0f) * 4; len(p) > ihl+13 && p[ihl+13]&0x12 == 0x02 { // SYN without ACK
			w.once.Do(func() { close(w.seen) })
		}
	}
	return w.Device.Write(bufs, offset)
}

func mustIpcGet(t testing.TB, d *device.Device) string {
	t.Helper()
	s, err := d.IpcGet()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setAgents replaces the edge's peers with the given agent keys; each is
// allowed the agent's addresses (so with several, the last one wins them).
func (e *edge) setAgents(t testing.TB, agents ...keyPair) {
	t.Helper()
	var b strings.Builder
	b.WriteString("replace_peers=true\n")
	for _, a := range agents {
		fmt.Fprintf(&b, "public_key=%s\nallowed_ip=%s/32\nallowed_ip=%s/128\n", a.pubHex(), agentV4, agentV6)
	}
	if err := e.dev.IpcSet(b.String()); err != nil {
		t.Fatal(err)
	}
}

// rotateKey gives the edge a new private key.
func (e *edge) rotateKey(t testing.TB, k keyPair) {
	t.Helper()
	if err := e.dev.IpcSet("private_key=" + k.privHex() + "\n"); err != nil {
		t.Fatal(err)
	}
	e.key = k
}

func (e *edge) endpoint() string { return fmt.Sprintf("127.0.0.1:%d", e.port) }

// tunnelBlock is what a registration response would carry for an agent of
// this edge.
func (e *edge) tunnelBlock() session.Tunnel {
	return session.Tunnel{
		Endpoint:      e.endpoint(),
		EdgePublicKey: e.key.pubB64(),
		Addresses:     []string{agentV4.String() + "/32", agentV6.String() + "/128"},
		DNS:           []string{edgeV4.String()},
		AllowedIPs:    []string{"10.99.0.0/24", "fd00:99::/64"},
		MTU:           1420,
	}
}

func (e *edge) config(agent keyPair) Config {
	return Config{Tunnel: e.tunnelBlock(), PrivateKey: agent.wgKey()}
}

func (e *edge) onClose(f func()) {
	e.mu.Lock()
	e.closers = append(e.closers, f)
	e.mu.Unlock()
}

func (e *edge) track(c net.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns == nil {
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *edge) untrack(c net.Conn) {
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

func (e *edge) serveTCP(t testing.TB, ip netip.Addr, port uint16, handle func(net.Conn)) {
	t.Helper()
	ln, err := e.tnet.ListenTCPAddrPort(netip.AddrPortFrom(ip, port))
	if err != nil {
		t.Fatal(err)
	}
	e.onClose(func() { ln.Close() })
	e.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !e.track(c) {
				c.Close()
				return
			}
			e.wg.Go(func() {
				defer e.untrack(c)
				defer c.Close()
				handle(c)
			})
		}
	})
}

func (e *edge) echo(c net.Conn) {
	io.Copy(c, c)
}

func (e *edge) sink(c net.Conn) {
	n, _ := io.Copy(io.Discard, c)
	binary.Write(c, binary.BigEndian, n)
}

func (e *edge) whoami(c net.Conn) { io.WriteString(c, e.name+"\n") }

func (e *edge) serveUDPEcho(t testing.TB, ip netip.Addr) {
	t.Helper()
	pc, err := e.tnet.ListenUDPAddrPort(netip.AddrPortFrom(ip, portEcho))
	if err != nil {
		t.Fatal(err)
	}
	e.onClose(func() { pc.Close() })
	e.wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	})
}

// serveDNS answers nameEcho (A and AAAA) and nameWeb (A) on edgeV4:53, and
// NXDOMAIN for anything else.
func (e *edge) serveDNS(t testing.TB) {
	t.Helper()
	pc, err := e.tnet.ListenUDPAddrPort(netip.AddrPortFrom(edgeV4, 53))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		e.dnsQueries.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		for _, qq := range q.Question {
			hdr := dns.RR_Header{Name: qq.Name, Class: dns.ClassINET, Ttl: 60, Rrtype: qq.Qtype}
			switch {
			case qq.Name == nameEcho+"." && qq.Qtype == dns.TypeA, qq.Name == nameWeb+"." && qq.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: edgeV4.AsSlice()})
			case qq.Name == nameEcho+"." && qq.Qtype == dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: edgeV6.AsSlice()})
			case qq.Name == nameWeb+".":
			default:
				m.Rcode = dns.RcodeNameError
			}
		}
		w.WriteMsg(m)
	})}
	e.wg.Go(func() { srv.ActivateAndServe() })
	<-started
	e.onClose(func() { srv.Shutdown() })
}

func (e *edge) serveSilentDNS(t testing.TB) {
	t.Helper()
	pc, err := e.tnet.ListenUDPAddrPort(netip.AddrPortFrom(silentDNS, 53))
	if err != nil {
		t.Fatal(err)
	}
	e.onClose(func() { pc.Close() })
	e.wg.Go(func() {
		var once sync.Once
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			once.Do(func() { close(e.silentQuery) })
		}
	})
}

// serveHTTP answers every request on edgeV4:80 with the edge's name, the
// request's method, Host and path.
func (e *edge) serveHTTP(t testing.TB) {
	t.Helper()
	ln, err := e.tnet.ListenTCPAddrPort(netip.AddrPortFrom(edgeV4, portHTTP))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s %s", e.name, r.Method, r.Host, r.URL.Path)
	})}
	e.wg.Go(func() { srv.Serve(ln) })
	e.onClose(func() { srv.Close() })
}

// close stops every service and the device, and waits for their goroutines.
func (e *edge) close() {
	e.mu.Lock()
	closers := e.closers
	e.closers = nil
	conns := e.conns
	e.conns = nil
	e.mu.Unlock()
	for _, f := range closers {
		f()
	}
	for c := range conns {
		c.Close()
	}
	e.wg.Wait()
	if e.dev != nil {
		e.dev.Close()
	}
}
