package randtoken

import (
	"encoding/base64"
	"testing"
)

func TestNew(t *testing.T) {
	seen := make(map[string]bool)
	for _, n := range []int{0, 1, 16, 32, 48} {
		tok := New(n)
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) != n {
			t.Fatalf("New(%d) = %q: decodes to %d bytes, %v", n, tok, len(b), err)
		}
		if n > 0 && seen[tok] {
			t.Fatalf("New(%d) repeated %q", n, tok)
		}
		seen[tok] = true
	}
	if got := len(New(32)); got != 43 {
		t.Fatalf("New(32) is %d characters; want 43", got)
	}
}
