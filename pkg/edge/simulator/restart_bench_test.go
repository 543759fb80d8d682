package simulator

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkEdgeRestart registers n devices once, then measures a restart
// of the edge on that state: opening the registry and restoring every
// device's WireGuard peer (DESIGN §12's scale row; goal ≤ 1 s at 10,000).
// It also reports the registration rate of the setup.
func BenchmarkEdgeRestart(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tc := newTestConfig(b)
			dir := b.TempDir() + "/state"
			s, err := Start(context.Background(), tc.options(dir))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			start := time.Now()
			for i := range n {
				registerBenchDevice(ctx, b, s, i)
			}
			rate := float64(n) / time.Since(start).Seconds()
			s.Close()
			b.ResetTimer()
			for b.Loop() {
				s, err := Start(context.Background(), tc.options(dir))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(rate, "registrations/s")
		})
	}
}
