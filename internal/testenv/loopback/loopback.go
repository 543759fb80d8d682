// Package loopback holds the throughput harness the benchmarks share, so
// every benchmark of the project measures the same way: a sink that counts
// what it receives and a pusher that sends b.N chunks and checks the count
// (upload), a source that sends what it is asked for and a puller that asks
// for b.N chunks (download), and the reference every tunnel benchmark is
// compared with, a stock pair of wireguard-go netstack devices (StockPair).
package loopback

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
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
	serve(tb, l, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		binary.Write(c, binary.BigEndian, n)
	})
}

// Source listens on 127.0.0.1 and serves ServeSource; it returns the
// address.
func Source(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ServeSource(tb, l)
	return l.Addr().String()
}

// ServeSource reads a byte count (8 bytes, big endian) from each connection
// accepted on l, writes that many bytes and closes the connection. l and
// every connection are closed, and their goroutines waited for, when tb
// ends.
func ServeSource(tb testing.TB, l net.Listener) {
	serve(tb, l, func(c net.Conn) {
		var n int64
		if binary.Read(c, binary.BigEndian, &n) != nil {
			return
		}
		chunk := make([]byte, ChunkSize)
		for n > 0 {
			w, err := c.Write(chunk[:min(n, ChunkSize)])
			if err != nil {
				return
			}
			n -= int64(w)
		}
	})
}

func serve(tb testing.TB, l net.Listener, handle func(net.Conn)) {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		// A benchmark that failed half way leaves connections open.
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
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

// Pull asks c's source for b.N chunks of ChunkSize, reads them to EOF and
// checks the count; the timer covers exactly that.
func Pull(b *testing.B, c net.Conn) {
	b.SetBytes(ChunkSize)
	b.ResetTimer()
	want := int64(b.N) * ChunkSize
	if err := binary.Write(c, binary.BigEndian, want); err != nil {
		b.Fatal(err)
	}
	got, err := io.CopyBuffer(io.Discard, c, make([]byte, ChunkSize))
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if got != want {
		b.Fatalf("source sent %d bytes, asked for %d", got, want)
	}
}

// PushFor writes chunks on c for d, half-closes it and checks the sink's
// count; it returns the bytes sent. It is Push for a transfer of a given
// length rather than a given size.
func PushFor(tb testing.TB, c net.Conn, d time.Duration) int64 {
	hc, ok := c.(interface{ CloseWrite() error })
	if !ok {
		tb.Fatalf("%T cannot half-close, so the sink would never answer", c)
	}
	chunk := make([]byte, ChunkSize)
	var sent int64
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, err := c.Write(chunk)
		sent += int64(n)
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := hc.CloseWrite(); err != nil {
		tb.Fatal(err)
	}
	var got int64
	if err := binary.Read(c, binary.BigEndian, &got); err != nil {
		tb.Fatal(err)
	}
	if got != sent {
		tb.Fatalf("sink got %d bytes, sent %d", got, sent)
	}
	return sent
}

// PullFor asks c's source for more than it can send in d, reads for d and
// returns how much arrived; c is unusable afterwards.
func PullFor(tb testing.TB, c net.Conn, d time.Duration) int64 {
	if err := binary.Write(c, binary.BigEndian, int64(1)<<50); err != nil {
		tb.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(d))
	got, err := io.CopyBuffer(io.Discard, c, make([]byte, ChunkSize))
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		tb.Fatalf("reading from the source for %s: %d bytes, %v", d, got, err)
	}
	return got
}
