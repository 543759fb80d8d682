package browser

import (
	"context"
	"strings"
	"testing"
)

// TestSystemChecksTheAllowListItIsGiven: one System for a process takes
// its allowed origins from AllowedFunc at each Open, so they follow the
// registration; a URL off them, or any URL before one is known, never
// reaches the launcher.
func TestSystemChecksTheAllowListItIsGiven(t *testing.T) {
	var launched []string
	allowed := []string{}
	s := &System{
		AllowedFunc: func() []string { return allowed },
		Launch:      func(u string) error { launched = append(launched, u); return nil },
	}
	ctx := context.Background()
	const good = "http://acme.localhost:8781/cdn-cgi/access/refresh-identity"
	if err := s.Open(ctx, good); err == nil || !strings.Contains(err.Error(), "no team domain") {
		t.Fatalf("Open before any team domain is known: %v", err)
	}
	allowed = []string{"http://acme.localhost:8781"}
	if err := s.Open(ctx, good); err != nil {
		t.Fatalf("Open of a team-domain URL: %v", err)
	}
	for _, bad := range []string{"http://evil.example/cdn-cgi/access/refresh-identity", "-evil", "file:///etc/passwd"} {
		if err := s.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) was allowed", bad)
		}
	}
	allowed = []string{"http://other.localhost:8781"}
	if err := s.Open(ctx, good); err == nil {
		t.Fatal("Open still allowed the old team domain after the registration changed")
	}
	if len(launched) != 1 || launched[0] != good {
		t.Fatalf("launched %v, want only %s", launched, good)
	}
}
