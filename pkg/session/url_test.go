package session

import (
	"errors"
	"testing"
)

func TestRefreshIdentityURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://acme.localhost:8781":  "http://acme.localhost:8781/cdn-cgi/access/refresh-identity",
		"http://acme.localhost:8781/": "http://acme.localhost:8781/cdn-cgi/access/refresh-identity",
		"acme.cloudflareaccess.com":   "https://acme.cloudflareaccess.com/cdn-cgi/access/refresh-identity",
		"https://ACME.example":        "https://ACME.example/cdn-cgi/access/refresh-identity",
	} {
		got, err := RefreshIdentityURL(in)
		if err != nil || got != want {
			t.Errorf("RefreshIdentityURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://acme.example", "https://u:p@acme.example", "https://acme.example/path", "https://acme.example?q=1", "http://"} {
		if got, err := RefreshIdentityURL(bad); err == nil {
			t.Errorf("RefreshIdentityURL(%q) = %q, want an error", bad, got)
		}
	}
}

// The session's validator is the leaf's (internal/browseurl tests it).
func TestValidateBrowseURLIsTheLeafValidator(t *testing.T) {
	team := "http://acme.localhost:8781"
	if _, err := ValidateBrowseURL(team+RefreshIdentityPath, team); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"http://evil.example/", "-a x", "https://acme.localhost:8781/"} {
		if _, err := ValidateBrowseURL(bad, team); !errors.Is(err, ErrUnsafeURL) {
			t.Errorf("ValidateBrowseURL(%q) = %v, want ErrUnsafeURL", bad, err)
		}
	}
}
