package apierror

import (
	"errors"
	"fmt"
	"testing"
)

// A refusal survives the wire: decoded, it has its code, message, hint,
// user and the status it came with, and matches its sentinel.
func TestDecodeKeepsTheRefusal(t *testing.T) {
	sentinel := New("device_revoked", "", "")
	e := Decode(401, []byte(`{"error":{"code":"device_revoked","message":"revoked by an administrator","hint":"run agentctl register","user":"alice@acme.test"}}`), "")
	if e.Status != 401 || e.Code != "device_revoked" || e.User != "alice@acme.test" {
		t.Fatalf("decoded %+v", e)
	}
	if got, want := e.Error(), "revoked by an administrator; run agentctl register"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("follow: %w", e)
	if !errors.Is(wrapped, sentinel) || !HasCode(wrapped, "device_revoked") || HasCode(wrapped, "device_left") {
		t.Fatalf("wrapped refusal does not match its code: %v", wrapped)
	}
	if errors.Is(wrapped, New("", "", "")) {
		t.Fatal("a refusal matched a sentinel without a code")
	}
}

// What is not an error answer (a proxy's page, an empty body, an error
// without a code) becomes http_<status>, never a message the API did not
// say; an error without a message still says something.
func TestDecodeOfWhatIsNotARefusal(t *testing.T) {
	for _, c := range []struct {
		body, fallback, code, msg string
	}{
		{"<html>bad gateway</html>", "the edge answered 502", "http_502", "the edge answered 502"},
		{"", "", "http_502", "the server answered HTTP 502"},
		{`{"error":{"message":"no code"}}`, "fallback", "http_502", "fallback"},
		{`{"error":{"code":"internal"}}`, "fallback", "internal", "the server answered HTTP 502 (internal)"},
	} {
		e := Decode(502, []byte(c.body), c.fallback)
		if e.Status != 502 || e.Code != c.code || e.Message != c.msg {
			t.Errorf("Decode(%q, %q) = %+v, want code %s message %q", c.body, c.fallback, e, c.code, c.msg)
		}
	}
}
