package tunnel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"go.uber.org/zap"
)

// SOCKS5, RFC 1928: no authentication, CONNECT and UDP ASSOCIATE.
const (
	socksVersion4 = 0x04
	socksVersion5 = 0x05

	socksMethodNoAuth       = 0x00
	socksMethodNoAcceptable = 0xff

	socksCmdConnect      = 0x01
	socksCmdUDPAssociate = 0x03

	socksAtypIPv4   = 0x01
	socksAtypDomain = 0x03
	socksAtypIPv6   = 0x04

	socksSucceeded        = 0x00
	socksGeneralFailure   = 0x01
	socksNotAllowed       = 0x02 // "connection not allowed by ruleset"
	socksNetUnreachable   = 0x03
	socksHostUnreachable  = 0x04
	socksRefused          = 0x05
	socksCmdNotSupported  = 0x07
	socksAtypNotSupported = 0x08
)

// socksAddr is a SOCKS5 address: a domain name or an IP, and a port.
type socksAddr struct {
	host string // the domain name, or "" for an IP
	ip   netip.Addr
	port uint16
}

func (a socksAddr) hostString() string {
	if a.host != "" {
		return a.host
	}
	return a.ip.String()
}

func (a socksAddr) String() string {
	return net.JoinHostPort(a.hostString(), strconv.Itoa(int(a.port)))
}

var errSOCKSAtyp = errors.New("unknown SOCKS5 address type")

// readSOCKSAddr reads ATYP, DST.ADDR and DST.PORT.
func readSOCKSAddr(r io.Reader) (socksAddr, error) {
	var a socksAddr
	var atyp [1]byte
	if _, err := io.ReadFull(r, atyp[:]); err != nil {
		return a, err
	}
	switch atyp[0] {
	case socksAtypIPv4:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return a, err
		}
		a.ip = netip.AddrFrom4(b)
	case socksAtypIPv6:
		var b [16]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return a, err
		}
		a.ip = netip.AddrFrom16(b).Unmap()
	case socksAtypDomain:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return a, err
		}
		if n[0] == 0 {
			return a, errors.New("empty domain name")
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(r, b); err != nil {
			return a, err
		}
		a.host = string(b)
		if ip, err := netip.ParseAddr(a.host); err == nil {
			a.host, a.ip = "", ip.Unmap()
		}
	default:
		return a, errSOCKSAtyp
	}
	var port [2]byte
	if _, err := io.ReadFull(r, port[:]); err != nil {
		return a, err
	}
	a.port = binary.BigEndian.Uint16(port[:])
	return a, nil
}

// appendSOCKSAddr appends ATYP, ADDR and PORT for an IP address.
func appendSOCKSAddr(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	if a.Is4() {
		b = append(b, socksAtypIPv4)
		v := a.As4()
		b = append(b, v[:]...)
	} else if a.Is6() {
		b = append(b, socksAtypIPv6)
		v := a.As16()
		b = append(b, v[:]...)
	} else {
		b = append(b, socksAtypIPv4, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func socksReply(w io.Writer, code byte, bound netip.AddrPort) error {
	b := make([]byte, 0, 22)
	b = append(b, socksVersion5, code, 0)
	b = appendSOCKSAddr(b, bound)
	_, err := w.Write(b)
	return err
}

// socksCode maps a dial failure to its reply code.
func socksCode(err error) byte {
	switch failureOf(err) {
	case failNetUnreachable:
		return socksNetUnreachable
	case failHostUnreachable:
		return socksHostUnreachable
	case failRefused:
		return socksRefused
	case failSessionExpired:
		// SOCKS5 has no room for text: "not allowed by ruleset" is the
		// closest a client can show to "a policy refused this".
		return socksNotAllowed
	}
	return socksGeneralFailure
}

// serveSOCKS runs the SOCKS5 handshake under the handshake deadline (stop
// disarms it) and then the command.
func (p *proxy) serveSOCKS(c *clientConn, stop func() bool) {
	cmd, dst, err := readSOCKSRequest(c)
	if !stop() {
		p.log.Debug("SOCKS5 client did not finish its handshake in time", zap.Stringer("client", c.RemoteAddr()), zap.Duration("timeout", p.opts.HandshakeTimeout))
		c.Close()
		return
	}
	if err != nil {
		p.log.Debug("bad SOCKS5 handshake", zap.Stringer("client", c.RemoteAddr()), zap.Error(err))
		if errors.Is(err, errSOCKSAtyp) {
			socksReply(c, socksAtypNotSupported, netip.AddrPort{})
		}
		c.Close()
		return
	}
	switch cmd {
	case socksCmdConnect:
		p.socksConnect(c, dst)
	case socksCmdUDPAssociate:
		p.socksUDP(c, dst)
	default:
		p.log.Debug("unsupported SOCKS5 command", zap.Uint8("cmd", cmd))
		socksReply(c, socksCmdNotSupported, netip.AddrPort{})
		c.Close()
	}
}

// readSOCKSRequest reads the method greeting, answers it, and reads the
// request. Every field is length-bounded by the format itself.
func readSOCKSRequest(c *clientConn) (cmd byte, dst socksAddr, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return 0, dst, err
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c.br, methods); err != nil {
		return 0, dst, err
	}
	if !bytes.Contains(methods, []byte{socksMethodNoAuth}) {
		c.Write([]byte{socksVersion5, socksMethodNoAcceptable})
		return 0, dst, errors.New("the client offers no method without authentication, the only one this proxy speaks")
	}
	if _, err := c.Write([]byte{socksVersion5, socksMethodNoAuth}); err != nil {
		return 0, dst, err
	}
	var req [3]byte
	if _, err := io.ReadFull(c.br, req[:]); err != nil {
		return 0, dst, err
	}
	if req[0] != socksVersion5 {
		return 0, dst, fmt.Errorf("request has SOCKS version %d, want 5", req[0])
	}
	dst, err = readSOCKSAddr(c.br)
	return req[1], dst, err
}

func (p *proxy) socksConnect(c *clientConn, dst socksAddr) {
	up, err := p.dial(p.ctx, dst.hostString(), dst.port)
	if err != nil {
		p.log.Debug("SOCKS5 CONNECT failed", zap.Stringer("dst", dst), zap.Error(err))
		socksReply(c, socksCode(err), netip.AddrPort{})
		c.Close()
		return
	}
	var bound netip.AddrPort
	if ta, ok := up.LocalAddr().(*net.TCPAddr); ok {
		bound = ta.AddrPort()
	}
	if err := socksReply(c, socksSucceeded, bound); err != nil {
		up.Close()
		c.Close()
		return
	}
	p.log.Debug("SOCKS5 CONNECT", zap.Stringer("client", c.RemoteAddr()), zap.Stringer("dst", dst))
	relay(c, up)
}
