package wg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.zx2c4.com/wireguard/device"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/gvisorstack"
	"github.com/ztagent/ztagent/internal/wgkey"
)

// Server is the edge's WireGuard endpoint and forwarding stack. Its methods
// may be called from any goroutine.
type Server struct {
	log      *zap.Logger
	clock    clock.Clock
	limits   Limits
	flowHook FlowHook
	dnsHook  DNSHook
	mtu      int
	priv     wgkey.Private
	pub      wgkey.Public
	addr     netip.AddrPort

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	stack  *stack.Stack
	net    *gvisorstack.Stack // owns stack and the device side of its NIC
	dev    *device.Device
	tcpFwd *tcp.Forwarder
	udpFwd *udp.Forwarder
	dns    *dnsServer

	netmap  atomic.Pointer[netMap]
	peers   *peerTable
	peerMu  sync.Mutex // orders peer table changes with device changes
	flows   *flowTable
	tcpWait *pendingSYNs
	udp     *udpState
	nextID  atomic.Uint64

	closeOnce sync.Once
}

// New starts an edge: the gVisor stack, the DNS server inside it and the
// WireGuard device listening on cfg.ListenAddr. Call Close to stop it.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("edge WireGuard config: %w", err)
	}
	nm, _ := cfg.Network.compile()
	var err error
	priv := cfg.PrivateKey
	if priv.IsZero() {
		if priv, err = wgkey.Generate(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		log:      cfg.Logger,
		clock:    cfg.Clock,
		limits:   cfg.Limits,
		flowHook: cfg.FlowHook,
		dnsHook:  cfg.DNSHook,
		mtu:      cfg.MTU,
		priv:     priv,
		peers:    newPeerTable(),
		flows:    newFlowTable(cfg.Limits),
		tcpWait:  newPendingSYNs(cfg.Limits),
	}
	s.pub = priv.Public()
	s.netmap.Store(nm)
	s.udp = newUDPState(cfg.Limits.MaxFlows)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	if s.net, err = newStack(cfg.MTU, cfg.Limits, nm.resolver); err != nil {
		s.cancel()
		return nil, err
	}
	s.stack = s.net.Stack()
	// The forwarder's own in-flight cap is above ours, so that every SYN
	// pendingSYNs admits really starts a handler goroutine.
	s.tcpFwd = tcp.NewForwarder(s.stack, 0, 2*cfg.Limits.MaxPendingTCP, s.acceptTCP)
	s.udpFwd = udp.NewForwarder(s.stack, s.acceptUDP)
	s.stack.SetTransportProtocolHandler(tcp.ProtocolNumber, s.handleTCP)
	s.stack.SetTransportProtocolHandler(udp.ProtocolNumber, s.handleUDP)

	if s.dns, err = s.startDNS(nm.resolver); err != nil {
		s.Close()
		return nil, err
	}
	tunDev := s.net.Device()
	s.dev = device.NewDevice(tunDev, newBind(cfg.ListenAddr), deviceLogger(s.log))
	uapi := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", priv.UAPIHex(), cfg.ListenAddr.Port())
	if err := s.dev.IpcSet(uapi); err != nil {
		s.Close()
		return nil, fmt.Errorf("configure the edge WireGuard device: %w", err)
	}
	// The device is down until here, so this is where the port is bound.
	if err := s.dev.Up(); err != nil {
		s.Close()
		return nil, fmt.Errorf("listen for WireGuard on UDP %v: %w; free the port or pick another listen address", cfg.ListenAddr, err)
	}
	port, err := s.listenPort()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.addr = netip.AddrPortFrom(cfg.ListenAddr.Addr(), port)
	s.log.Info("edge WireGuard listening", zap.Stringer("addr", s.addr), zap.Stringer("public_key", s.pub),
		zap.Stringer("resolver", nm.resolver), zap.Int("mtu", s.mtu))
	return s, nil
}

// listenPort returns the UDP port the device bound, which differs from the
// configured one when that was 0.
func (s *Server) listenPort() (uint16, error) {
	text, err := s.dev.IpcGet()
	if err != nil {
		return 0, fmt.Errorf("read the edge WireGuard device state: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "listen_port="); ok {
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return 0, fmt.Errorf("edge WireGuard device reports listen port %q", v)
			}
			return uint16(p), nil
		}
	}
	return 0, errors.New("the edge WireGuard device reports no listen port")
}

// Addr returns the UDP address WireGuard listens on, with the port it got.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// PublicKey returns the edge's WireGuard public key; its String is the
// base64 form devices need (tunnel.edge_public_key).
func (s *Server) PublicKey() wgkey.Public { return s.pub }

// PrivateKey returns the edge's private key, for the caller to persist
// (its Secret is the base64 form) when it was generated.
func (s *Server) PrivateKey() wgkey.Private { return s.priv }

// MTU returns the tunnel MTU devices should use.
func (s *Server) MTU() int { return s.mtu }

// Resolver returns the edge resolver's address inside the tunnel.
func (s *Server) Resolver() netip.Addr { return s.netmap.Load().resolver }

// SetNetwork replaces the virtual network's records, upstreams and
// services (a configuration reload). Open flows keep their upstreams; new
// flows and queries use the new map. The resolver address cannot change
// while the Server runs.
func (s *Server) SetNetwork(n Network) error {
	if !n.Resolver.IsValid() {
		n.Resolver = s.Resolver()
	}
	nm, err := n.compile()
	if err != nil {
		return fmt.Errorf("edge virtual network: %w", err)
	}
	if nm.resolver != s.Resolver() {
		return fmt.Errorf("edge virtual network: the resolver address cannot change from %v to %v while the edge runs; restart it", s.Resolver(), nm.resolver)
	}
	s.netmap.Store(nm)
	return nil
}

// AddPeer lets a device's peer handshake and send from its addresses, or
// updates a peer added before.
func (s *Server) AddPeer(p Peer) error {
	p, err := p.normalize()
	if err != nil {
		return fmt.Errorf("add WireGuard peer: %w", err)
	}
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	if s.ctx.Err() != nil {
		return fmt.Errorf("add WireGuard peer %v: %w", p.PublicKey, errClosed)
	}
	// The table learns the peer first, so that its first packets already
	// map to a device.
	old, err := s.peers.put(&p)
	if err != nil {
		return fmt.Errorf("add WireGuard peer: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "public_key=%s\nreplace_allowed_ips=true\n", p.PublicKey.UAPIHex())
	for _, a := range p.Addresses {
		fmt.Fprintf(&b, "allowed_ip=%s\n", a)
	}
	if err := s.dev.IpcSet(b.String()); err != nil {
		s.peers.remove(p.PublicKey)
		if old != nil {
			s.peers.put(old)
		}
		return fmt.Errorf("add WireGuard peer %v (device %s): %w", p.PublicKey, p.DeviceID, err)
	}
	if old != nil && !old.sameIdentity(&p) {
		// The old identity's flows were decided for another device or
		// address: they end, as on RemovePeer.
		s.flows.endPeer(old)
		s.udp.forgetSources(old.Addresses)
	}
	s.log.Debug("peer added", zap.Stringer("peer", p.PublicKey), zap.String("device_id", p.DeviceID))
	return nil
}

// RemovePeer forgets a peer: its handshakes and packets are dropped, its
// open flows are ended and new ones cannot start. Removing an unknown peer
// does nothing.
func (s *Server) RemovePeer(k wgkey.Public) error {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	p := s.peers.remove(k)
	if p == nil {
		return nil
	}
	if err := s.dev.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", k.UAPIHex())); err != nil {
		return fmt.Errorf("remove WireGuard peer %v (device %s): %w", k, p.DeviceID, err)
	}
	s.flows.endPeer(p)
	s.udp.forgetSources(p.Addresses)
	s.log.Debug("peer removed", zap.Stringer("peer", k), zap.String("device_id", p.DeviceID))
	return nil
}

// FlowByUpstream returns the flow that a connection from local (an address
// of the edge's, as a loopback listener sees it in RemoteAddr) belongs to,
// so that the team domain or Access can tell which device sent a request.
func (s *Server) FlowByUpstream(local netip.AddrPort) (Flow, bool) {
	return s.flows.lookupUpstream(local)
}

// Close stops the device, the DNS server, every flow and the stack, and
// waits for all their goroutines.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		// The device goes first: once it is closed no packet reaches the
		// stack, so no new flow or query can start.
		if s.dev != nil {
			s.dev.Close()
		}
		if s.dns != nil {
			s.dns.close()
		}
		// The stack closes before the flows are waited for: a flow whose
		// TCP handshake is still in gVisor's CreateEndpoint (the device
		// vanished before its ACK) would otherwise hold Close for the ~2
		// minutes of SYN-ACK retries.
		if s.stack != nil {
			s.stack.Close()
		}
		s.flows.shutdown()
		if s.stack != nil {
			s.net.Wait()
		}
		s.log.Debug("edge WireGuard closed")
	})
	return nil
}

// newFlow describes a flow from its endpoint ID; false when the source is
// no peer's (it was removed while its packets were in flight).
func (s *Server) newFlow(proto Protocol, id stack.TransportEndpointID) (Flow, bool) {
	src, dst := endpoints(id)
	p, ok := s.peers.lookup(src.Addr())
	if !ok {
		return Flow{}, false
	}
	target, service := s.netmap.Load().route(proto, dst)
	return Flow{
		ID:       s.nextID.Add(1),
		Protocol: proto,
		Src:      src,
		Dst:      dst,
		DeviceID: p.DeviceID,
		Peer:     p.PublicKey,
		Upstream: target,
		Service:  service,
	}, true
}

// openFlow reserves f's place among the open flows, under the peer entry
// f was decided for. It re-checks the entry afterwards: a RemovePeer or a
// changing AddPeer that ran since has already ended the entry's flows, and
// must not miss this one.
func (s *Server) openFlow(f Flow) (*liveFlow, error) {
	p, ok := s.peers.lookup(f.Src.Addr())
	if !ok || p.PublicKey != f.Peer || p.DeviceID != f.DeviceID {
		return nil, errPeerChanged
	}
	lf, err := s.flows.open(s.ctx, f, p)
	if err != nil {
		return nil, err
	}
	if now, ok := s.peers.lookup(f.Src.Addr()); !ok || now != p {
		s.flows.finish(lf)
		return nil, errPeerChanged
	}
	return lf, nil
}

// decide returns the verdict on a new flow: edge services pass unasked
// (S15), everything else is the hook's to decide.
func (s *Server) decide(f Flow) Verdict {
	if f.Service != "" {
		return Verdict{Action: Forward, Reason: "edge service " + f.Service}
	}
	if s.flowHook == nil {
		return Verdict{Action: Forward, Reason: "no flow hook"}
	}
	timeout := s.limits.HookTimeout
	if f.Protocol == UDP {
		timeout = s.limits.UDPHookTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	return s.flowHook.DecideFlow(ctx, f)
}

func (s *Server) logFlow(msg string, f Flow, fields ...zap.Field) {
	if ce := s.log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(append([]zap.Field{
			zap.Uint64("flow", f.ID), zap.Stringer("proto", f.Protocol),
			zap.Stringer("src", f.Src), zap.Stringer("dst", f.Dst),
			zap.String("device_id", f.DeviceID),
		}, fields...)...)
	}
}
