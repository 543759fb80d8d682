package tunnel

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"sync"

	"go.uber.org/zap"

	byterelay "github.com/ztagent/ztagent/internal/relay"
)

const (
	// maxUDPPayload is the largest UDP payload IPv4 can carry.
	maxUDPPayload = 65507
	// maxSOCKSUDPHeader is RSV, FRAG, ATYP, an IPv6 address and a port.
	maxSOCKSUDPHeader = 2 + 1 + 1 + 16 + 2
	// maxResolved bounds the names an association remembers.
	maxResolved = 64
)

// udpBufs are the associations' datagram buffers, shared with the rest of
// the process.
var udpBufs = byterelay.DatagramPool()

// Each buffer must hold a SOCKS5 header and the largest payload; this
// constant fails to compile (a negative uint) when it cannot.
const _ = uint(byterelay.MaxDatagram - (maxSOCKSUDPHeader + maxUDPPayload))

// udpAssoc is one UDP ASSOCIATE (RFC 1928 §7): a UDP socket on the proxy's
// loopback address whose datagrams, each with a SOCKS5 header naming its
// destination, are relayed through the tunnel, and the replies back. It
// lives while its control connection stays open and is not idle for
// IdleTimeout.
type udpAssoc struct {
	p        *proxy
	ctrl     *clientConn
	local    *net.UDPConn // the socket the client sends its datagrams to
	clientIP netip.Addr   // datagrams from any other address are dropped
	wantPort uint16       // the client's declared source port, or 0
	idle     *byterelay.IdleTimer

	mu       sync.Mutex
	closed   bool
	client   netip.AddrPort          // pinned by the first datagram
	tun      map[bool]net.PacketConn // tunnel sockets, keyed by "is IPv4"
	resolved map[string]netip.Addr
	readers  sync.WaitGroup
}

func (p *proxy) socksUDP(c *clientConn, declared socksAddr) {
	tcpLocal, _ := c.LocalAddr().(*net.TCPAddr)
	tcpRemote, _ := c.RemoteAddr().(*net.TCPAddr)
	if tcpLocal == nil || tcpRemote == nil {
		socksReply(c, socksGeneralFailure, netip.AddrPort{})
		c.Close()
		return
	}
	local, err := net.ListenUDP("udp", &net.UDPAddr{IP: tcpLocal.IP})
	if err != nil {
		p.log.Warn("SOCKS5 UDP ASSOCIATE: cannot open a local UDP socket", zap.Error(err))
		socksReply(c, socksGeneralFailure, netip.AddrPort{})
		c.Close()
		return
	}
	a := &udpAssoc{
		p:        p,
		ctrl:     c,
		local:    local,
		clientIP: tcpRemote.AddrPort().Addr().Unmap(),
		wantPort: declared.port,
		tun:      make(map[bool]net.PacketConn),
		resolved: make(map[string]netip.Addr),
	}
	if err := socksReply(c, socksSucceeded, local.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		local.Close()
		c.Close()
		return
	}
	p.log.Debug("SOCKS5 UDP ASSOCIATE", zap.Stringer("client", c.RemoteAddr()), zap.Stringer("relay", local.LocalAddr()))
	a.idle = byterelay.NewIdleTimer(p.clock, p.opts.IdleTimeout, func() {
		p.log.Debug("SOCKS5 UDP association idle: closing it", zap.Duration("idle", p.opts.IdleTimeout))
		a.close()
	})

	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		a.fromClient()
	}()
	// RFC 1928: the association ends with its control connection. Anything
	// the client sends on it is meaningless and dropped.
	io.Copy(io.Discard, c)
	a.close()
	a.idle.Stop()
	<-clientDone
	a.readers.Wait()
}

// close ends the association: every socket, and the control connection.
func (a *udpAssoc) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	tun := a.tun
	a.mu.Unlock()
	a.local.Close()
	for _, pc := range tun {
		pc.Close()
	}
	a.ctrl.Close()
}

// fromClient relays the client's datagrams into the tunnel.
func (a *udpAssoc) fromClient() {
	bp := udpBufs.Get()
	defer udpBufs.Put(bp)
	buf := *bp
	// One destination address, refilled for each datagram: WriteTo takes
	// a net.Addr and does not keep it.
	to := &net.UDPAddr{IP: make(net.IP, 0, net.IPv6len)}
	for {
		n, from, err := a.local.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if !a.accept(from) {
			continue
		}
		dst, payload, ok := parseSOCKSUDP(buf[:n])
		if !ok {
			continue
		}
		a.idle.Touch()
		ip, ok := a.destination(dst)
		if !ok {
			continue
		}
		pc, ok := a.tunnelSocket(ip)
		if !ok {
			continue
		}
		// A lost datagram is UDP's contract; errors are not the client's to see.
		setUDPAddr(to, netip.AddrPortFrom(ip, dst.port))
		pc.WriteTo(payload, to)
	}
}

// accept checks a datagram's source: the control connection's IP, the
// declared port if there was one, and the first source seen thereafter.
func (a *udpAssoc) accept(from netip.AddrPort) bool {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if from.Addr() != a.clientIP || (a.wantPort != 0 && from.Port() != a.wantPort) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.client.IsValid() {
		a.client = from
	}
	return a.client == from
}

// parseSOCKSUDP splits a client datagram into destination and payload;
// fragments (FRAG ≠ 0), which no client we know sends, are dropped.
func parseSOCKSUDP(b []byte) (socksAddr, []byte, bool) {
	if len(b) < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0 {
		return socksAddr{}, nil, false
	}
	r := bytes.NewReader(b[3:])
	dst, err := readSOCKSAddr(r)
	if err != nil {
		return socksAddr{}, nil, false
	}
	return dst, b[len(b)-r.Len():], true
}

// destination returns the IP to send to, resolving names through the
// tunnel's DNS once per association.
func (a *udpAssoc) destination(dst socksAddr) (netip.Addr, bool) {
	if dst.host == "" {
		return dst.ip, a.p.dialer.current().check(dst.ip) == nil
	}
	a.mu.Lock()
	ip, ok := a.resolved[dst.host]
	a.mu.Unlock()
	if ok {
		return ip, true
	}
	ctx, cancel := context.WithTimeout(a.p.ctx, a.p.opts.DialTimeout)
	defer cancel()
	addrs, err := a.p.dialer.resolve(ctx, dst.host)
	if err != nil {
		a.p.log.Debug("SOCKS5 UDP: dropping a datagram", zap.String("dst", dst.host), zap.Error(err))
		return netip.Addr{}, false
	}
	a.mu.Lock()
	if len(a.resolved) >= maxResolved {
		clear(a.resolved)
	}
	a.resolved[dst.host] = addrs[0]
	a.mu.Unlock()
	return addrs[0], true
}

// tunnelSocket returns the association's tunnel socket for ip's family,
// opening it and its reader on first use.
func (a *udpAssoc) tunnelSocket(ip netip.Addr) (net.PacketConn, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, false
	}
	if pc, ok := a.tun[ip.Is4()]; ok {
		return pc, true
	}
	local, ok := a.p.dialer.current().localAddr(ip)
	if !ok {
		return nil, false
	}
	pc, err := a.p.dialer.link.listenUDP(local)
	if err != nil {
		a.p.log.Debug("SOCKS5 UDP: cannot open a tunnel socket", zap.Error(err))
		return nil, false
	}
	a.tun[ip.Is4()] = pc
	a.readers.Add(1)
	go func() {
		defer a.readers.Done()
		a.toClient(pc)
	}()
	return pc, true
}

// toClient relays the tunnel's datagrams to the client, each behind a
// SOCKS5 header naming its source. The header is written into the space
// left in front of the payload, so nothing is copied.
func (a *udpAssoc) toClient(pc net.PacketConn) {
	bp := udpBufs.Get()
	defer udpBufs.Put(bp)
	buf := (*bp)[:maxSOCKSUDPHeader+maxUDPPayload]
	for {
		n, from, err := pc.ReadFrom(buf[maxSOCKSUDPHeader:])
		if err != nil {
			return
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		a.idle.Touch()
		start := putSOCKSUDPHeader(buf[:maxSOCKSUDPHeader], ua.AddrPort())
		a.mu.Lock()
		client := a.client
		a.mu.Unlock()
		a.local.WriteToUDPAddrPort(buf[start:maxSOCKSUDPHeader+n], client)
	}
}

// putSOCKSUDPHeader writes the SOCKS5 UDP header naming src at the end of
// hdr, which is maxSOCKSUDPHeader bytes long and followed by the payload,
// and returns where it starts. Appending within hdr's capacity writes it in
// place, without a slice of its own for each datagram.
func putSOCKSUDPHeader(hdr []byte, src netip.AddrPort) int {
	ipLen := net.IPv4len
	if src.Addr().Unmap().Is6() {
		ipLen = net.IPv6len
	}
	start := maxSOCKSUDPHeader - (3 + 1 + ipLen + 2)
	appendSOCKSAddr(append(hdr[start:start], 0, 0, 0), src)
	return start
}

// setUDPAddr makes ua the address of ap, reusing its IP slice.
func setUDPAddr(ua *net.UDPAddr, ap netip.AddrPort) {
	a := ap.Addr().Unmap()
	if a.Is4() {
		v := a.As4()
		ua.IP = append(ua.IP[:0], v[:]...)
	} else {
		v := a.As16()
		ua.IP = append(ua.IP[:0], v[:]...)
	}
	ua.Port = int(ap.Port())
	ua.Zone = a.Zone()
}
