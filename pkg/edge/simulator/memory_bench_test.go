package simulator

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// BenchmarkEdgeMemoryPerDevice reports the edge's heap per registered
// device: the registry row and the WireGuard peer (DESIGN §12). Each
// iteration registers one more device; the metric is the heap growth
// divided by the devices added.
func BenchmarkEdgeMemoryPerDevice(b *testing.B) {
	tc := newTestConfig(b)
	s, err := Start(context.Background(), tc.options(b.TempDir()+"/state"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		registerBenchDevice(ctx, b, s, i)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N), "heap-bytes/device")
}

// registerBenchDevice registers device i with a new key and installs its
// WireGuard peer, as the control API does for an enrollment.
func registerBenchDevice(ctx context.Context, b *testing.B, s *Simulator, i int) {
	key, err := wgkey.Generate()
	if err != nil {
		b.Fatal(err)
	}
	d, _, err := s.reg.Register(ctx, registry.Registration{
		Fingerprint: fmt.Sprintf("bench-%d", i), UserEmail: fmt.Sprintf("user%d@example.com", i),
		UserName: "Bench", Groups: []string{"engineering"}, AuthTime: s.clock.Now(), WGPublicKey: key.Public().String(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.peers.Add(d); err != nil {
		b.Fatal(err)
	}
}
