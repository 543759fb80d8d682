package relay

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func udpPair(t *testing.T) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.DialUDP("udp", nil, a.LocalAddr().(*net.UDPAddr))
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	for _, c := range []*net.UDPConn{a, b} {
		c.SetDeadline(time.Now().Add(ioTimeout))
		t.Cleanup(func() { c.Close() })
	}
	return a, b
}

// Each datagram crosses whole, the largest one included, and is counted;
// the copy ends when its source is closed.
func TestCopyDatagrams(t *testing.T) {
	recv, send := udpPair(t) // send → recv: the copy's source
	sink, out := udpPair(t)  // out → sink: its destination
	var seen atomic.Int32
	done := make(chan int64, 1)
	go func() { done <- CopyDatagrams(out, recv, func() { seen.Add(1) }) }()

	sizes := []int{1, 1200, 65507}
	var want int64
	for _, n := range sizes {
		msg := make([]byte, n)
		msg[n-1] = byte(n)
		if _, err := send.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, MaxDatagram+1)
		got, _, err := sink.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram of %d bytes: %v", n, err)
		}
		if got != n || buf[n-1] != byte(n) {
			t.Fatalf("sent %d bytes, got %d", n, got)
		}
		want += int64(n)
	}
	recv.Close()
	select {
	case total := <-done:
		if total != want {
			t.Fatalf("CopyDatagrams returned %d; want %d", total, want)
		}
	case <-time.After(ioTimeout):
		t.Fatal("CopyDatagrams did not return after its source closed")
	}
	if n := seen.Load(); n != int32(len(sizes)) {
		t.Fatalf("onDatagram called %d times; want %d", n, len(sizes))
	}
}

func TestPool(t *testing.T) {
	p := NewPool(100)
	b := p.Get()
	if len(*b) != 100 || p.Size() != 100 {
		t.Fatalf("Get returned %d bytes from a pool of %d", len(*b), p.Size())
	}
	*b = (*b)[:10]
	p.Put(b) // resliced, not shortened: restored to full length
	short := make([]byte, 10)
	p.Put(&short) // too small: dropped
	p.Put(nil)
	for range 4 {
		if got := p.Get(); len(*got) != 100 {
			t.Fatalf("Get returned %d bytes after Put of a short buffer", len(*got))
		}
	}
	if DatagramPool().Size() != MaxDatagram {
		t.Fatalf("DatagramPool buffers are %d bytes", DatagramPool().Size())
	}
}
