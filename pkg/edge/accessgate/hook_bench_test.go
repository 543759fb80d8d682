package accessgate

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkHookRequest is the gate's own cost per request to an
// application under device identity (S9), without the network.
func BenchmarkHookRequest(b *testing.B) {
	f := newFixture(b)
	from := requester("alice@example.com", t0)
	ctx := context.Background()
	req, _ := http.NewRequest(http.MethodGet, "http://wiki.acme.internal/", nil)
	b.ReportAllocs()
	for range b.N {
		req.Header = http.Header{}
		if resp := f.g.HookRequest(ctx, req, from); resp != nil {
			b.Fatal(resp.StatusCode)
		}
	}
}
