package gvisorstack

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	addrA4 = netip.MustParseAddr("10.0.0.1")
	addrB4 = netip.MustParseAddr("10.0.0.2")
	addrA6 = netip.MustParseAddr("fd00::1")
	addrB6 = netip.MustParseAddr("fd00::2")
)

// pair is two Stacks whose Devices are wired to each other by two pump
// goroutines, standing in for WireGuard: they check every packet the way
// a peer would (size within the MTU, valid checksums) and count them.
type pair struct {
	a, b     *Stack
	aToB     wireStats
	bToA     wireStats
	badPkt   atomic.Value // first invalid packet's description
	pumps    sync.WaitGroup
	closeAll func()
}

type wireStats struct{ packets, reads atomic.Int64 }

const wireOffset = 16 // wireguard-go reads behind its message header

func newPair(t testing.TB, o Options) *pair {
	t.Helper()
	oa, ob := o, o
	oa.Addresses = []netip.Addr{addrA4, addrA6}
	ob.Addresses = []netip.Addr{addrB4, addrB6}
	a, err := New(oa)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ob)
	if err != nil {
		a.Close()
		a.Wait()
		t.Fatal(err)
	}
	p := &pair{a: a, b: b}
	p.pumps.Add(2)
	go p.pump(a.Device(), b.Device(), o.MTU, &p.aToB)
	go p.pump(b.Device(), a.Device(), o.MTU, &p.bToA)
	var once sync.Once
	p.closeAll = func() {
		once.Do(func() {
			a.Device().Close()
			b.Device().Close()
			p.pumps.Wait()
			a.Close()
			b.Close()
			a.Wait()
			b.Wait()
		})
	}
	t.Cleanup(p.closeAll)
	return p
}

func (p *pair) pump(from, to *Device, mtu int, st *wireStats) {
	defer p.pumps.Done()
	bufs := make([][]byte, from.BatchSize())
	sizes := make([]int, len(bufs))
	for i := range bufs {
		bufs[i] = make([]byte, wireOffset+1<<16)
	}
	out := make([][]byte, 0, len(bufs))
	for {
		n, err := from.Read(bufs, sizes, wireOffset)
		if err != nil {
			return
		}
		st.reads.Add(1)
		out = out[:0]
		for i := range n {
			pkt := bufs[i][wireOffset : wireOffset+sizes[i]]
			if err := checkPacket(pkt, mtu); err != nil {
				p.badPkt.CompareAndSwap(nil, err.Error())
				continue
			}
			out = append(out, bufs[i][:wireOffset+sizes[i]])
		}
		st.packets.Add(int64(len(out)))
		if len(out) > 0 {
			to.Write(out, wireOffset)
		}
	}
}

// checkPacket returns what is wrong with an IP packet a peer would check:
// its size, IPv4 header checksum, and TCP or UDP checksum.
func checkPacket(pkt []byte, mtu int) error {
	if len(pkt) > mtu {
		return fmt.Errorf("packet of %d bytes exceeds the MTU %d", len(pkt), mtu)
	}
	var src, dst tcpip.Address
	var proto tcpip.TransportProtocolNumber
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		ip := header.IPv4(pkt)
		if !ip.IsValid(len(pkt)) || !ip.IsChecksumValid() || int(ip.TotalLength()) != len(pkt) {
			return fmt.Errorf("bad IPv4 header %x", pkt[:20])
		}
		src, dst, proto, l4 = ip.SourceAddress(), ip.DestinationAddress(), ip.TransportProtocol(), ip.Payload()
	case 6:
		ip := header.IPv6(pkt)
		if !ip.IsValid(len(pkt)) || int(ip.PayloadLength())+header.IPv6MinimumSize != len(pkt) {
			return fmt.Errorf("bad IPv6 header %x", pkt[:40])
		}
		src, dst, proto, l4 = ip.SourceAddress(), ip.DestinationAddress(), ip.TransportProtocol(), ip.Payload()
	default:
		return fmt.Errorf("not an IP packet: %x", pkt[:1])
	}
	if proto != header.TCPProtocolNumber && proto != header.UDPProtocolNumber {
		return nil
	}
	xsum := header.PseudoHeaderChecksum(proto, src, dst, uint16(len(l4)))
	if checksum.Checksum(l4, xsum) != 0xffff {
		return fmt.Errorf("bad %d checksum in a %d-byte packet", proto, len(pkt))
	}
	return nil
}

func (p *pair) check(t testing.TB) {
	t.Helper()
	if v := p.badPkt.Load(); v != nil {
		t.Fatalf("the wire saw an invalid packet: %s", v)
	}
}

// transfer sends size random bytes from a client on p.a to a server on
// p.b, which echoes nothing and answers with what it read, and checks
// them.
func transfer(t *testing.T, p *pair, dst netip.AddrPort, size int) {
	t.Helper()
	ln, err := p.b.ListenTCP(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := p.a.DialTCP(t.Context(), dst)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	rand.Read(want)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	b := <-got
	c.Close()
	if !bytes.Equal(b, want) {
		t.Fatalf("the server read %d bytes, not the %d sent (or not the same)", len(b), len(want))
	}
	p.check(t)
}

func TestTCPTransfer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mtu     int
		offload bool
		dst     netip.AddrPort
	}{
		{"ipv4/offload", 1280, true, netip.AddrPortFrom(addrB4, 80)},
		{"ipv6/offload", 1280, true, netip.AddrPortFrom(addrB6, 80)},
		{"ipv4/no-offload", 1280, false, netip.AddrPortFrom(addrB4, 80)},
		{"ipv4/offload/mtu=576", 576, true, netip.AddrPortFrom(addrB4, 80)},
		{"ipv6/offload/mtu=8920", 8920, true, netip.AddrPortFrom(addrB6, 80)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, Options{MTU: tc.mtu, DisableOffload: !tc.offload})
			const size = 4 << 20
			transfer(t, p, tc.dst, size)
			sent := p.a.Stack().Stats().TCP.SegmentsSent.Value()
			wire := uint64(p.aToB.packets.Load())
			rcvd := p.b.Stack().Stats().TCP.ValidSegmentsReceived.Value()
			t.Logf("client stack sent %d TCP segments, the wire carried %d packets, the server stack received %d segments", sent, wire, rcvd)
			if min := uint64(size / tc.mtu); wire < min {
				t.Fatalf("the wire carried %d packets, fewer than %d MTU-sized ones could", wire, min)
			}
			if tc.offload {
				// Segmentation offload: the stack's packets are cut on
				// the wire; receive offload: merged before the stack.
				if sent*4 > wire {
					t.Errorf("the client stack sent %d segments for %d wire packets: segmentation offload did not happen", sent, wire)
				}
				if rcvd*2 > wire {
					t.Errorf("the server stack received %d segments for %d wire packets: receive offload did not merge them", rcvd, wire)
				}
			} else if sent < wire {
				t.Errorf("without offload the client stack sent %d segments, fewer than the %d wire packets", sent, wire)
			}
		})
	}
}

func TestUDP(t *testing.T) {
	p := newPair(t, Options{MTU: 1280})
	srv, err := p.b.ListenUDP(netip.AddrPortFrom(addrB6, 53))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := p.a.DialUDP(netip.AddrPortFrom(addrB6, 53))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	srv.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := srv.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("server read %q, %v", buf[:n], err)
	}
	if got := from.(*net.UDPAddr).AddrPort().Addr(); got != addrA6 {
		t.Errorf("datagram from %v, want the client's address %v", got, addrA6)
	}
	if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}
	p.check(t)
}

// TestPromiscuous checks that a promiscuous stack accepts a connection to
// an address it does not have, as the edge's forwarders need.
func TestPromiscuous(t *testing.T) {
	a, err := New(Options{MTU: 1280, Addresses: []netip.Addr{addrA4}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{MTU: 1280, Promiscuous: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{a: a, b: b}
	p.pumps.Add(2)
	go p.pump(a.Device(), b.Device(), 1280, &p.aToB)
	go p.pump(b.Device(), a.Device(), 1280, &p.bToA)
	defer func() {
		a.Device().Close()
		b.Device().Close()
		p.pumps.Wait()
		a.Close()
		b.Close()
		a.Wait()
		b.Wait()
	}()
	virt := netip.MustParseAddrPort("192.0.2.7:443")
	ln, err := b.ListenTCP(virt)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := a.DialTCP(t.Context(), virt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hi" {
		t.Fatalf("read %q, %v", got, err)
	}
	p.check(t)
}

func TestQueueDropsPastItsLength(t *testing.T) {
	s, err := New(Options{MTU: 1280, QueueLen: 2, Addresses: []netip.Addr{addrA4}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Device().Close(); s.Close(); s.Wait() }()
	c, err := s.DialUDP(netip.AddrPortFrom(addrB4, 9))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 5 {
		c.Write([]byte("x")) // nobody reads the device: the queue fills
	}
	if n := len(s.link.queue); n != 2 {
		t.Fatalf("%d packets queued, want the queue's length 2", n)
	}
	if got := s.Stack().Stats().NICs.Tx.Packets.Value(); got < 2 {
		t.Errorf("NIC counted %d packets sent", got)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	s, err := New(Options{MTU: 1280})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 1500)}
		_, err := s.Device().Read(bufs, make([]int, 1), 0)
		done <- err
	}()
	s.Device().Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Read returned no error after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
	if _, ok := <-s.Device().Events(); ok {
		t.Error("the event channel is still open after Close")
	}
	s.Close()
	s.Wait()
}

func TestNewRejectsNoMTU(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New accepted a zero MTU")
	}
}
