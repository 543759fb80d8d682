package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ztagent/ztagent/internal/gvisorstack"
)

// Resolver timing: like the C library's resolver, each server gets a few
// seconds per attempt, and every server is tried again once.
const (
	dnsAttemptTimeout = 2 * time.Second
	dnsAttempts       = 2
	dnsPort           = 53
	// dnsUDPSize is the answer size advertised with EDNS(0): the size DNS
	// Flag Day 2020 settled on, which fits any tunnel MTU.
	dnsUDPSize = 1232
)

// tunnelResolver resolves names with the tunnel's DNS servers, over the
// proxy's userspace stack, so that neither the query nor the name ever
// reaches the host's resolver. It asks for A records when the device has
// an IPv4 address and AAAA when it has an IPv6 one, both on one socket.
// Each lookup runs in its caller's goroutine and ends when ctx does: the
// socket's deadline is moved to the past on cancellation.
type tunnelResolver struct {
	st      *gvisorstack.Stack
	servers []netip.AddrPort
	qtypes  []uint16
	timeout time.Duration // per attempt and server
}

func newTunnelResolver(st *gvisorstack.Stack, s settings) *tunnelResolver {
	r := &tunnelResolver{st: st, timeout: dnsAttemptTimeout}
	for _, a := range s.dns {
		r.servers = append(r.servers, netip.AddrPortFrom(a, dnsPort))
	}
	var v4, v6 bool
	for _, p := range s.addresses {
		v4 = v4 || p.Addr().Is4()
		v6 = v6 || p.Addr().Is6()
	}
	if v4 {
		r.qtypes = append(r.qtypes, dns.TypeA)
	}
	if v6 {
		r.qtypes = append(r.qtypes, dns.TypeAAAA)
	}
	return r
}

// lookup returns host's addresses. A name that does not exist gives a
// *net.DNSError with IsNotFound; no answer in time gives one with
// IsTimeout; ctx's end gives ctx's error.
func (r *tunnelResolver) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if len(r.servers) == 0 {
		return nil, errNoTunnelDNS
	}
	name := dns.Fqdn(host)
	if _, ok := dns.IsDomainName(name); !ok || strings.HasPrefix(name, ".") {
		return nil, &net.DNSError{Err: "not a valid domain name", Name: host}
	}
	var lastErr error
	for range dnsAttempts {
		for _, srv := range r.servers {
			addrs, err := r.exchange(ctx, srv, name)
			if err == nil {
				return addrs, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				return nil, err
			}
			lastErr = err
		}
	}
	return nil, lastErr
}

// exchange asks srv for every query type of name and returns the addresses
// of the answers, or why there are none.
func (r *tunnelResolver) exchange(ctx context.Context, server netip.AddrPort, name string) ([]netip.Addr, error) {
	srv := server.Addr()
	pc, err := r.st.DialUDP(server)
	if err != nil {
		return nil, &net.DNSError{Err: fmt.Sprintf("cannot send to the tunnel's DNS server %v: %v", srv, err), Name: name, Server: server.String()}
	}
	defer pc.Close()
	deadline := time.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	pc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { pc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	co := &dns.Conn{Conn: pc, UDPSize: dnsUDPSize}
	pending := make(map[uint16]*dns.Msg, len(r.qtypes))
	for _, qt := range r.qtypes {
		q := new(dns.Msg)
		q.SetQuestion(name, qt)
		q.SetEdns0(dnsUDPSize, false)
		if err := co.WriteMsg(q); err != nil {
			return nil, r.ioError(ctx, err, name, server)
		}
		pending[q.Id] = q
	}
	var addrs []netip.Addr
	for len(pending) > 0 {
		m, err := co.ReadMsg()
		if err != nil {
			if isMalformed(err) {
				continue // not a DNS answer; keep waiting for ours
			}
			return nil, r.ioError(ctx, err, name, server)
		}
		q, ok := pending[m.Id]
		if !ok || !m.Response || len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, name) || m.Question[0].Qtype != q.Question[0].Qtype {
			continue
		}
		delete(pending, m.Id)
		if m.Truncated {
			if m, err = r.exchangeTCP(ctx, server, q, deadline); err != nil {
				return nil, err
			}
		}
		switch m.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, &net.DNSError{Err: "no such host", Name: strings.TrimSuffix(name, "."), Server: server.String(), IsNotFound: true}
		default:
			return nil, &net.DNSError{Err: fmt.Sprintf("the tunnel's DNS server %v answered %s", srv, dns.RcodeToString[m.Rcode]), Name: name, Server: server.String(), IsTemporary: m.Rcode == dns.RcodeServerFailure}
		}
		addrs = append(addrs, answerAddrs(m)...)
	}
	return addrs, nil
}

// exchangeTCP asks q again over TCP, for an answer too big for UDP.
func (r *tunnelResolver) exchangeTCP(ctx context.Context, server netip.AddrPort, q *dns.Msg, deadline time.Time) (*dns.Msg, error) {
	name := q.Question[0].Name
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := r.st.DialTCP(dctx, server)
	if err != nil {
		return nil, r.ioError(ctx, err, name, server)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	co := &dns.Conn{Conn: c}
	if err := co.WriteMsg(q); err != nil {
		return nil, r.ioError(ctx, err, name, server)
	}
	for {
		m, err := co.ReadMsg()
		if err != nil {
			return nil, r.ioError(ctx, err, name, server)
		}
		if m.Id == q.Id && m.Response {
			return m, nil
		}
	}
}

// ioError says why a server gave no answer.
func (r *tunnelResolver) ioError(ctx context.Context, err error, name string, server netip.AddrPort) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &net.DNSError{Err: fmt.Sprintf("no answer from the tunnel's DNS server %v", server.Addr()), Name: name, Server: server.String(), IsTimeout: true}
	}
	return &net.DNSError{Err: fmt.Sprintf("the tunnel's DNS server %v: %v", server.Addr(), err), Name: name, Server: server.String()}
}

// isMalformed reports whether err is about a datagram's content (short or
// unparsable) rather than the socket.
func isMalformed(err error) bool {
	var de *dns.Error
	return errors.As(err, &de)
}

// answerAddrs returns the A and AAAA records of m's answer section (the
// server has followed any CNAME chain into it).
func answerAddrs(m *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range m.Answer {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out
}
