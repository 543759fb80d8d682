package wg

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.zx2c4.com/wireguard/conn"
)

// newBind returns the conn.Bind for a listen address. wireguard-go's
// default bind listens on every interface, which is right only when the
// operator asks for it (an unspecified IP); the edge listens on loopback by
// default (DESIGN §3), so any other IP gets addrBind, bound to that address
// alone.
func newBind(listen netip.AddrPort) conn.Bind {
	if listen.Addr().IsUnspecified() {
		return conn.NewDefaultBind()
	}
	return &addrBind{ip: listen.Addr()}
}

// socketBufferSize is the UDP socket buffer size wireguard-go's own bind
// asks for.
const socketBufferSize = 7 << 20

// maxKnownEndpoints bounds addrBind's endpoint cache.
const maxKnownEndpoints = 4096

// addrBind is a conn.Bind on one UDP socket bound to one address. It reads
// and writes in batches (recvmmsg, sendmmsg), as wireguard-go's own bind
// does, since per-packet system calls dominate the tunnel's cost.
type addrBind struct {
	ip netip.Addr

	mu sync.Mutex
	uc *net.UDPConn
	pc *ipv4.PacketConn // uc, for recvmmsg and sendmmsg (any address family)
}

func (b *addrBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.uc != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.ip, port)))
	if err != nil {
		return nil, 0, err
	}
	growSocketBuffers(uc)
	b.uc = uc
	actual := uint16(uc.LocalAddr().(*net.UDPAddr).Port)
	// Endpoints are remembered so that each packet does not allocate one;
	// only this ReceiveFunc's goroutine touches the map.
	known := make(map[netip.AddrPort]conn.Endpoint)
	pc := ipv4.NewPacketConn(uc)
	b.pc = pc
	msgs := make([]ipv4.Message, conn.IdealBatchSize)
	for i := range msgs {
		msgs[i].Buffers = make([][]byte, 1)
	}
	recv := func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		for i := range packets {
			msgs[i].Buffers[0] = packets[i]
		}
		n, err := pc.ReadBatch(msgs[:len(packets)], 0)
		if err != nil {
			return 0, err
		}
		for i := range n {
			from := msgs[i].Addr.(*net.UDPAddr).AddrPort()
			ep, ok := known[from]
			if !ok {
				if len(known) >= maxKnownEndpoints {
					clear(known)
				}
				ep = &udpEndpoint{unmapPort(from)}
				known[from] = ep
			}
			sizes[i] = msgs[i].N
			eps[i] = ep
		}
		return n, nil
	}
	return []conn.ReceiveFunc{recv}, actual, nil
}

func (b *addrBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.uc == nil {
		return nil
	}
	err := b.uc.Close()
	b.uc, b.pc = nil, nil
	return err
}

func (b *addrBind) SetMark(uint32) error { return nil }

func (b *addrBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	dst, ok := ep.(*udpEndpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	b.mu.Lock()
	uc, pc := b.uc, b.pc
	b.mu.Unlock()
	if uc == nil {
		return net.ErrClosed
	}
	if len(bufs) == 1 {
		_, err := uc.WriteToUDPAddrPort(bufs[0], dst.AddrPort)
		return err
	}
	mp := sendMsgs.Get().(*[]ipv4.Message)
	defer sendMsgs.Put(mp)
	msgs := (*mp)[:len(bufs)]
	addr := net.UDPAddrFromAddrPort(dst.AddrPort)
	for i, buf := range bufs {
		msgs[i].Buffers[0] = buf
		msgs[i].Addr = addr
	}
	for len(msgs) > 0 {
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// sendMsgs are sendmmsg batches; Send runs in many goroutines (one per
// peer), so each call takes its own.
var sendMsgs = sync.Pool{New: func() any {
	msgs := make([]ipv4.Message, conn.IdealBatchSize)
	for i := range msgs {
		msgs[i].Buffers = make([][]byte, 1)
	}
	return &msgs
}}

func (b *addrBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, errors.New("endpoint is not ip:port")
	}
	return &udpEndpoint{unmapPort(ap)}, nil
}

func (b *addrBind) BatchSize() int { return conn.IdealBatchSize }

// udpEndpoint is a peer's UDP address; addrBind always sends from its one
// address, so there is no source to remember.
type udpEndpoint struct{ netip.AddrPort }

func (e *udpEndpoint) ClearSrc()           {}
func (e *udpEndpoint) SrcToString() string { return "" }
func (e *udpEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }
func (e *udpEndpoint) DstIP() netip.Addr   { return e.Addr() }
func (e *udpEndpoint) DstToString() string { return e.String() }

func (e *udpEndpoint) DstToBytes() []byte {
	b, _ := e.MarshalBinary()
	return b
}
