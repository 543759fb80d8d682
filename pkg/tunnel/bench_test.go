package tunnel

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkProxyThroughput measures one TCP stream through the SOCKS5 proxy,
// the tunnel and the stand-in edge to a sink on the edge's netstack: each
// iteration writes 1 MiB, and the sink's byte count at the end checks that
// everything arrived.
func BenchmarkProxyThroughput(b *testing.B) {
	agent, edgeKey := newKeyPair(b), newKeyPair(b)
	e := startEdge(b, "edge-a", edgeKey, agent)
	tun := startTunnel(b, e, agent, Options{Logger: zap.NewNop()})
	benchSink(b, socksConnect(b, tun, edgeV4.String(), portSink))
}

// BenchmarkTunnelThroughput is the same stream opened with
// Tunnel.DialContext, without the proxy: the difference is the proxy's cost
// (a loopback TCP hop and a copy).
func BenchmarkTunnelThroughput(b *testing.B) {
	agent, edgeKey := newKeyPair(b), newKeyPair(b)
	e := startEdge(b, "edge-a", edgeKey, agent)
	tun := startTunnel(b, e, agent, Options{Logger: zap.NewNop()})
	c, err := tun.DialContext(context.Background(), "tcp", "10.99.0.1:9")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchSink(b, c)
}

func benchSink(b *testing.B, c net.Conn) {
	const chunk = 1 << 20
	c.SetDeadline(time.Time{})
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		b.Fatal(err)
	}
	var n int64
	if err := binary.Read(c, binary.BigEndian, &n); err != nil && err != io.EOF {
		b.Fatal(err)
	}
	b.StopTimer()
	if n != int64(b.N)*chunk {
		b.Fatalf("the sink received %d bytes, want %d", n, int64(b.N)*chunk)
	}
}
