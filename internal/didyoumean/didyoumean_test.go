package didyoumean

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"check_session", "block_reason", "azureAD", "http.request.host", "l4"}
	for _, c := range []struct{ name, want string }{
		{"check_sesion", "check_session"},          // one edit
		{"AzureAD", "azureAD"},                     // case only
		{"http.request.hots", "http.request.host"}, // a transposition is two edits in 17
		{"check", "check_session"},                 // a prefix
		{"l5", "l4"},                               // one edit in a short name
		{"check_session", ""},                      // itself: nothing to suggest
		{"completely_else", ""},                    // nothing close
		{"", ""},
	} {
		if got := Closest(c.name, names); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
