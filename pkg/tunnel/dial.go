package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// dialer opens flows through the tunnel for the proxy and Tunnel.DialContext:
// it resolves names with the tunnel's DNS and refuses, at once and with a
// reason, destinations the tunnel does not carry (otherwise the device drops
// their packets and the client waits for a timeout).
type dialer struct {
	link    link
	timeout time.Duration

	mu sync.RWMutex
	s  settings
}

func (d *dialer) current() settings {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.s
}

func (d *dialer) update(s settings) {
	d.mu.Lock()
	d.s = s
	d.mu.Unlock()
}

// failure classifies why a flow could not be opened, so the SOCKS5 reply
// code and the HTTP status say the same thing.
type failure int

const (
	failGeneral         failure = iota // anything else
	failNetUnreachable                 // outside the allowed IPs, or no address of that family
	failHostUnreachable                // name not found, no answer, timeout
	failRefused                        // the destination (or the edge's policy) refused
	failSessionExpired                 // the edge's policy refused: the user's session expired (Options.ExplainRefusal)
)

// dialError is a flow that could not be opened; its text is one line meant
// for the person behind the client.
type dialError struct {
	kind failure
	msg  string
	err  error
	dst  netip.AddrPort // the address that failed, when a connect did
}

func (e *dialError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *dialError) Unwrap() error { return e.err }

func failureOf(err error) failure {
	var de *dialError
	if errors.As(err, &de) {
		return de.kind
	}
	return failGeneral
}

// resolve returns the addresses of host that the tunnel can reach, in the
// resolver's order.
func (d *dialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	s := d.current()
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		a = a.Unmap()
		if err := s.check(a); err != nil {
			return nil, err
		}
		return []netip.Addr{a}, nil
	}
	// The netstack's resolver appends the root's dot itself.
	host = strings.TrimSuffix(host, ".")
	addrs, err := d.link.lookupHost(ctx, host)
	if err != nil {
		return nil, &dialError{kind: failHostUnreachable, msg: fmt.Sprintf("cannot resolve %s through the tunnel's DNS", host), err: dnsReason(err)}
	}
	var ok []netip.Addr
	var firstErr error
	for _, a := range addrs {
		if err := s.check(a); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		ok = append(ok, a)
	}
	if len(ok) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, &dialError{kind: failHostUnreachable, msg: fmt.Sprintf("%s has no address", host)}
	}
	return ok, nil
}

func dnsReason(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return errors.New("no such host")
		}
		return errors.New(de.Err)
	}
	return err
}

// check refuses addresses the tunnel does not carry.
func (s settings) check(a netip.Addr) error {
	if !s.allows(a) {
		return &dialError{kind: failNetUnreachable, msg: fmt.Sprintf("%s is outside the tunnel's allowed IPs %v", a, s.allowed)}
	}
	if _, ok := s.localAddr(a); !ok {
		fam := "IPv4"
		if a.Is6() {
			fam = "IPv6"
		}
		return &dialError{kind: failNetUnreachable, msg: fmt.Sprintf("the tunnel has no %s address to reach %s from", fam, a)}
	}
	return nil
}

// dialTCP connects to host:port through the tunnel, trying each address of
// a name in turn within the dial timeout.
func (d *dialer) dialTCP(ctx context.Context, host string, port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, a := range addrs {
		dst := netip.AddrPortFrom(a, port)
		c, err := d.link.dialTCP(ctx, dst)
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = classifyDial(dst, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// DialContext connects to address ("host:port"; a name is resolved with the
// tunnel's DNS) through the tunnel. Only "tcp", "tcp4" and "tcp6" are
// supported. It returns an error that names the reason when the tunnel does
// not carry the destination.
func (t *Tunnel) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dial %s %s through the tunnel: only tcp is supported", network, address)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s through the tunnel: %w", address, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dial %s through the tunnel: port %q is not a number", address, portStr)
	}
	if t.isClosed() {
		return nil, ErrClosed
	}
	return t.dialer.dialTCP(ctx, host, uint16(port))
}

// classifyDial turns a connect error from the netstack (gVisor's errors
// arrive as text) or the kernel into a dialError.
func classifyDial(dst netip.AddrPort, err error) error {
	msg := fmt.Sprintf("cannot connect to %s through the tunnel", dst)
	text := err.Error()
	has := func(e interface{ String() string }) bool { return strings.Contains(text, e.String()) }
	switch {
	case errors.Is(err, context.DeadlineExceeded), has(&tcpip.ErrTimeout{}), errors.Is(err, syscall.ETIMEDOUT):
		return &dialError{kind: failHostUnreachable, msg: msg, dst: dst, err: errors.New("timed out")}
	case has(&tcpip.ErrConnectionRefused{}), has(&tcpip.ErrConnectionReset{}), errors.Is(err, syscall.ECONNREFUSED):
		return &dialError{kind: failRefused, msg: msg, dst: dst, err: errors.New("connection refused")}
	case has(&tcpip.ErrNetworkUnreachable{}), has(&tcpip.ErrNoNet{}), errors.Is(err, syscall.ENETUNREACH):
		return &dialError{kind: failNetUnreachable, msg: msg, dst: dst, err: errors.New("network unreachable")}
	case has(&tcpip.ErrHostUnreachable{}), has(&tcpip.ErrHostDown{}), errors.Is(err, syscall.EHOSTUNREACH):
		return &dialError{kind: failHostUnreachable, msg: msg, dst: dst, err: errors.New("host unreachable")}
	case errors.Is(err, context.Canceled):
		return &dialError{kind: failGeneral, msg: msg, dst: dst, err: errors.New("the tunnel is closing")}
	}
	return &dialError{kind: failGeneral, msg: msg, dst: dst, err: err}
}
