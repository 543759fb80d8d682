package wg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/wgkey"
)

// Defaults for what a Config leaves out.
var (
	DefaultListenAddr = netip.MustParseAddrPort("127.0.0.1:2408")
	DefaultResolver   = netip.MustParseAddr("100.96.0.1")
)

// DefaultMTU is the tunnel MTU when Config.MTU is zero: what the Cloudflare
// One Client uses, small enough for any path.
const DefaultMTU = 1280

// Config is what New needs. Only the zero values documented as defaults may
// be left out.
type Config struct {
	// ListenAddr is the UDP address WireGuard listens on; default
	// 127.0.0.1:2408, port 0 picks a free port (see Server.Addr). An
	// unspecified IP (0.0.0.0 or ::) listens on every interface with
	// wireguard-go's default bind; any other IP binds that address only.
	ListenAddr netip.AddrPort
	// PrivateKey is the edge's WireGuard private key; zero generates one
	// (persist Server.PrivateKey so that devices keep working across
	// restarts).
	PrivateKey wgkey.Private
	// MTU of the tunnel; default DefaultMTU.
	MTU int
	// Network is the virtual network behind the tunnel.
	Network Network
	// FlowHook decides new flows; nil forwards every flow that has an
	// upstream.
	FlowHook FlowHook
	// DNSHook decides DNS queries; nil resolves every query.
	DNSHook DNSHook
	// Limits bound memory and goroutines; zero fields take defaults.
	Limits Limits
	// Clock times UDP flow expiry; default clock.Real().
	Clock clock.Clock
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// Network is the virtual network the edge simulates.
type Network struct {
	// Resolver is the edge's DNS server address inside the tunnel; default
	// DefaultResolver.
	Resolver  netip.Addr
	Records   []Record
	Upstreams []Upstream
	Services  []Service
}

// Record is a DNS name of the virtual network and its addresses (IPv4 for
// A, IPv6 for AAAA).
type Record struct {
	Name      string
	Addresses []netip.Addr
}

// Upstream maps a virtual address and protocol to the real host:port the
// edge dials for it.
type Upstream struct {
	Address  netip.AddrPort
	Protocol Protocol
	Target   string
}

// Service is one of the edge's own HTTP listeners that must stay reachable
// through the tunnel whatever the hooks say (S15): the DNS answers Names
// with Address's IP, and TCP flows to Address go to Target unasked.
type Service struct {
	Names   []string
	Address netip.AddrPort
	Target  string
}

// ServiceForURL returns the Service that makes origin (the team domain's or
// the IdP's URL, such as http://acme.localhost:8781) reachable through the
// tunnel under its own host name and port: the name resolves to virtualIP
// and flows to virtualIP:port go to target. Pass the resolver address as
// virtualIP unless another virtual address is reserved for the edge.
func ServiceForURL(origin string, virtualIP netip.Addr, target netip.AddrPort) (Service, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return Service{}, fmt.Errorf("edge service URL %q: %w", origin, err)
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		default:
			return Service{}, fmt.Errorf("edge service URL %q has no port and scheme %q has no default; write it as http://host:port", origin, u.Scheme)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return Service{}, fmt.Errorf("edge service URL %q: bad port %q", origin, port)
	}
	if u.Hostname() == "" {
		return Service{}, fmt.Errorf("edge service URL %q has no host name", origin)
	}
	return Service{
		Names:   []string{u.Hostname()},
		Address: netip.AddrPortFrom(virtualIP, uint16(p)),
		Target:  target.String(),
	}, nil
}

// Limits bound what the edge holds at once. Zero fields take the default
// given with each.
//
// Each total has a per-device share, so that one device (a scanner, a
// runaway client) that reaches its own limit leaves the rest for the
// others. A per-device default is a quarter of its total, which keeps room
// for at least three other devices when one is at its limit.
type Limits struct {
	// MaxFlows is the number of TCP and UDP flows open at once (default
	// 4096); new flows past it are refused.
	MaxFlows int
	// MaxFlowsPerDevice is the number of flows one device may hold open
	// (default MaxFlows/4, 1024); its new flows past it are refused.
	MaxFlowsPerDevice int
	// MaxPendingTCP is the number of TCP connection attempts waiting for
	// the hook or the upstream dial (default 256); SYNs past it are dropped
	// and retried by the client.
	MaxPendingTCP int
	// MaxPendingTCPPerDevice is the number of those attempts one device
	// may have (default MaxPendingTCP/4, 64); its SYNs past it are dropped.
	MaxPendingTCPPerDevice int
	// UDPIdleTimeout ends a UDP flow after this long without a datagram in
	// either direction (default 60s); the next datagram is a new flow.
	UDPIdleTimeout time.Duration
	// TCPBufferSize caps each TCP connection's send and receive buffers in
	// the stack (default 256 KiB; see the package's Memory section).
	TCPBufferSize int
	// QueueLen is the number of packets queued from the stack to WireGuard
	// (default 1024); packets past it are dropped, as on a full NIC ring.
	QueueLen int
	// MaxDNSInFlight is the number of DNS queries answered at once, and of
	// DNS-over-TCP connections (default 256); queries past it are dropped,
	// and connections past it wait to be accepted.
	MaxDNSInFlight int
	// MaxDNSPerDevice is the share of one device in each of those
	// (default MaxDNSInFlight/4, 64); its queries past it are dropped and
	// its DNS-over-TCP connections past it are closed at once.
	MaxDNSPerDevice int
	// HookTimeout bounds each hook call's context (default 5s).
	HookTimeout time.Duration
	// UDPHookTimeout bounds the context of a hook call for a new UDP flow
	// (default 100ms). That call runs on the peer's packet path, so that a
	// refusal can be answered with ICMP, and every packet of the device
	// waits for it: the hook must decide UDP flows from memory.
	UDPHookTimeout time.Duration
	// DialTimeout bounds each upstream dial (default 5s).
	DialTimeout time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxFlows, 4096)
	def(&l.MaxPendingTCP, 256)
	def(&l.TCPBufferSize, 256<<10)
	def(&l.QueueLen, 1024)
	def(&l.MaxDNSInFlight, 256)
	def(&l.MaxFlowsPerDevice, max(l.MaxFlows/4, 1))
	def(&l.MaxPendingTCPPerDevice, max(l.MaxPendingTCP/4, 1))
	def(&l.MaxDNSPerDevice, max(l.MaxDNSInFlight/4, 1))
	defDur(&l.UDPIdleTimeout, 60*time.Second)
	defDur(&l.HookTimeout, 5*time.Second)
	defDur(&l.UDPHookTimeout, 100*time.Millisecond)
	defDur(&l.DialTimeout, 5*time.Second)
	return l
}

func (c Config) withDefaults() Config {
	if !c.ListenAddr.IsValid() {
		c.ListenAddr = DefaultListenAddr
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if !c.Network.Resolver.IsValid() {
		c.Network.Resolver = DefaultResolver
	}
	c.Limits = c.Limits.withDefaults()
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// minMTU is IPv6's minimum link MTU, below which the stack cannot carry IPv6.
const minMTU = 1280

// maxMTU leaves room for WireGuard's 80 bytes of overhead in a UDP datagram.
const maxMTU = 65535 - 80

func (c Config) validate() error {
	var errs []error
	if c.MTU < minMTU || c.MTU > maxMTU {
		errs = append(errs, fmt.Errorf("MTU %d is out of range; use %d to %d (default %d)", c.MTU, minMTU, maxMTU, DefaultMTU))
	}
	if _, err := c.Network.compile(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// normalName returns a DNS name in the form records are looked up by: lower
// case, without the trailing dot.
func normalName(n string) string {
	return strings.TrimSuffix(strings.ToLower(n), ".")
}

// validTarget reports whether t is a host:port the edge can dial.
func validTarget(t string) error {
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		return fmt.Errorf("%q is not host:port", t)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; write 127.0.0.1:%s", t, port)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%q has a bad port", t)
	}
	return nil
}
