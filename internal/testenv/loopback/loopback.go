// Package loopback holds the throughput harness the benchmarks share: a
// sink that counts what it receives and a pusher that sends b.N chunks and
// checks the count, so every benchmark of the project measures the same way.
package loopback

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
)

// ChunkSize is what Push writes per benchmark iteration.
const ChunkSize = 64 << 10

// Sink listens on 127.0.0.1 and serves ServeSink; it returns the address.
func Sink(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ServeSink(tb, l)
	return l.Addr().String()
}

// ServeSink reads each connection accepted on l to EOF and answers with the
// byte count, so that the sender knows when everything arrived. l and every
// connection are closed, and their goroutines waited for, when tb ends.
func ServeSink(tb testing.TB, l net.Listener) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				binary.Write(c, binary.BigEndian, n)
			}()
		}
	}()
	tb.Cleanup(func() { l.Close(); wg.Wait() })
}

// Push writes b.N chunks of ChunkSize on c, half-closes it, and checks the
// sink's count; the timer covers exactly that. c must support CloseWrite.
func Push(b *testing.B, c net.Conn) {
	hc, ok := c.(interface{ CloseWrite() error })
	if !ok {
		b.Fatalf("%T cannot half-close, so the sink would never answer", c)
	}
	chunk := make([]byte, ChunkSize)
	b.SetBytes(ChunkSize)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := hc.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	var got int64
	if err := binary.Read(c, binary.BigEndian, &got); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if want := int64(b.N) * ChunkSize; got != want {
		b.Fatalf("sink got %d bytes, sent %d", got, want)
	}
}
