package ipc

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// reportPercentiles adds p50 and p99 of the round trips as custom metrics,
// so that `make bench` prints them beside ns/op.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// BenchmarkIPCStatus is one GET /v1/status round trip over the socket through
// the typed client, on a kept-alive connection as agentctl watch or a tray
// would use. Compare it with BenchmarkUnixEcho in the same run.
func BenchmarkIPCStatus(b *testing.B) {
	ts := startServer(b, nil, nil)
	ctx := context.Background()
	if _, err := ts.client.Status(ctx); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := ts.client.Status(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportPercentiles(b, lat)
}

// BenchmarkUnixEcho is the floor: a raw write and read of a status-sized
// message over a unix socket, with no HTTP, JSON or permission check.
func BenchmarkUnixEcho(b *testing.B) {
	sock := filepath.Join(shortDir(b), "echo.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		c.Close()
		ln.Close()
		<-done
	}()
	msg := make([]byte, 512)
	buf := make([]byte, len(msg))
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportPercentiles(b, lat)
}
