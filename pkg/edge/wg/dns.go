package wg

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
)

// dnsTTL is the TTL of every answer: short, since a reload may change the
// records.
const dnsTTL = 60

// dnsShutdownTimeout bounds how long Close waits for queries in progress.
const dnsShutdownTimeout = 5 * time.Second

// dnsServer is the resolver inside the stack: one miekg/dns server on UDP
// and one on TCP, both at the resolver address, port 53.
type dnsServer struct {
	servers []*dns.Server
	wg      sync.WaitGroup
	queries *quota // queries being answered, per device
}

func (s *Server) startDNS(resolver netip.Addr) (*dnsServer, error) {
	addr := fullAddr(netip.AddrPortFrom(resolver, dnsPort))
	proto := protocolOf(resolver)
	pc, err := gonet.DialUDP(s.stack, &addr, nil, proto)
	if err != nil {
		return nil, fmt.Errorf("edge resolver: listen on UDP %v:53: %w", resolver, err)
	}
	ln, err := gonet.ListenTCP(s.stack, addr, proto)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("edge resolver: listen on TCP %v:53: %w", resolver, err)
	}
	d := &dnsServer{queries: newQuota(s.limits.MaxDNSInFlight, s.limits.MaxDNSPerDevice)}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) { s.serveDNS(d, w, req) })
	udpSrv := &dns.Server{PacketConn: pc, Handler: h}
	tcpSrv := &dns.Server{Listener: newLimitListener(ln, limitListenerOptions{
		Max:          s.limits.MaxDNSInFlight,
		MaxPerDevice: s.limits.MaxDNSPerDevice,
		DeviceOf: func(c net.Conn) string {
			src, _ := addrPortOf(c.RemoteAddr())
			return s.deviceAt(src.Addr())
		},
		Refused: func(device string) {
			s.log.Debug("DNS-over-TCP connection closed: the device has too many", zap.String("device_id", device))
		},
	}), Handler: h}
	for _, srv := range []*dns.Server{udpSrv, tcpSrv} {
		if err := d.start(srv); err != nil {
			d.close()
			if srv == udpSrv {
				ln.Close()
			}
			return nil, fmt.Errorf("edge resolver: %w", err)
		}
	}
	return d, nil
}

// start runs srv and returns once it serves, so that close never races
// with a server that has not started (miekg/dns refuses to shut those down).
func (d *dnsServer) start(srv *dns.Server) error {
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.ActivateAndServe(); err != nil {
			failed <- err
		}
	}()
	select {
	case <-started:
		d.servers = append(d.servers, srv)
		return nil
	case err := <-failed:
		return err
	}
}

func (d *dnsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), dnsShutdownTimeout)
	defer cancel()
	for _, srv := range d.servers {
		srv.ShutdownContext(ctx)
	}
	d.wg.Wait()
}

// serveDNS answers one query from a device.
func (s *Server) serveDNS(d *dnsServer, w dns.ResponseWriter, req *dns.Msg) {
	src, _ := addrPortOf(w.RemoteAddr())
	peer, known := s.peers.lookup(src.Addr())
	device := "" // the share of sources no peer owns
	if known {
		device = peer.DeviceID
	}
	if hit := d.queries.acquire(device); hit != withinLimits {
		s.log.Debug("DNS query dropped: too many in flight", zap.String("device_id", device), zap.Stringer("limit", hit))
		return // the client retries
	}
	defer d.queries.release(device)
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		code := dns.RcodeNotImplemented
		if req.Opcode == dns.OpcodeQuery {
			code = dns.RcodeFormatError
		}
		m.SetRcode(req, code)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	if !known {
		m.SetRcode(req, dns.RcodeRefused)
		w.WriteMsg(m)
		return
	}
	name := normalName(q.Name)
	addrs, service, found := s.netmap.Load().lookup(name)
	var decision DNSDecision
	if !service && s.dnsHook != nil {
		ctx, cancel := context.WithTimeout(s.ctx, s.limits.HookTimeout)
		decision = s.dnsHook.DecideDNS(ctx, DNSQuery{Src: src, DeviceID: peer.DeviceID, Peer: peer.PublicKey, Name: name, Type: q.Qtype, Addresses: addrs})
		cancel()
	}
	switch {
	case decision.Action == Block:
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	case !found:
		m.SetRcode(req, dns.RcodeNameError)
	}
	if q.Qclass == dns.ClassINET {
		m.Answer = answers(q, addrs)
	}
	if ce := s.log.Check(zap.DebugLevel, "DNS query"); ce != nil {
		ce.Write(zap.String("name", name), zap.String("type", dns.TypeToString[q.Qtype]),
			zap.String("device_id", peer.DeviceID), zap.Stringer("action", decision.Action),
			zap.String("reason", decision.Reason), zap.String("rcode", dns.RcodeToString[m.Rcode]),
			zap.Int("answers", len(m.Answer)))
	}
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// answers returns the A or AAAA records of addrs that q asks for.
func answers(q dns.Question, addrs []netip.Addr) []dns.RR {
	var rrs []dns.RR
	for _, a := range addrs {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: dnsTTL, Rrtype: q.Qtype}
		switch {
		case q.Qtype == dns.TypeA && a.Is4():
			rrs = append(rrs, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case q.Qtype == dns.TypeAAAA && a.Is6():
			rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return rrs
}
