package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// BenchmarkSignalToBrowseURL measures the time from the edge appending a
// session_expired event to the agent publishing browse_to_url to its
// subscribers (DESIGN §12; target p99 ≤ 5 ms), over a real HTTP event
// stream. Each iteration first renews the session (session_refreshed with a
// later auth_time), so that every expiry is a new one the broker prompts
// for.
func BenchmarkSignalToBrowseURL(b *testing.B) {
	e := newEnv(b)
	e.enroll(1000)
	var lat []time.Duration
	for i := range b.N {
		auth := t0.Add(time.Duration(i+1) * time.Hour)
		e.edge.setNow(auth.Add(time.Minute))
		e.edge.appendEvent(control.EventSessionRefreshed, control.SessionRefreshed{AuthTime: auth, Groups: []string{"engineering"}})
		e.waitEvent(ipcproto.EventSessionRefreshed)
		start := time.Now()
		e.edge.appendEvent(control.EventSessionExpired, control.SessionExpired{PolicyID: "p", PolicyName: "Git over HTTP", Filter: "http"})
		e.waitEvent(ipcproto.EventBrowseToURL)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}
