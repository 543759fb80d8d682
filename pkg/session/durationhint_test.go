package session

import (
	"strings"
	"testing"
)

// TestParseDurationHintFitsTheInput: a misspelt check_session duration is
// told what in it is wrong; only an input that used days hears of them.
func TestParseDurationHintFitsTheInput(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"5 minutes", `("minutes" is not a unit): write 5m`},
		{"1 hour 30 mins", "write 1h30m"},
		{"2d", "write 48h"},
		{"90", `("90" has no unit)`},
		{"5 m", "no spaces"},
		{"9999999999h", "too long"},
	} {
		_, err := ParseDuration(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseDuration(%q): %v; want it to say %q", c.in, err, c.want)
			continue
		}
		usedDays := strings.Contains(c.in, "d")
		if mentions := strings.Contains(err.Error(), "days") || strings.Contains(err.Error(), `"d"`); mentions != usedDays {
			t.Errorf("ParseDuration(%q): %v mentions days: %v; the input used them: %v", c.in, err, mentions, usedDays)
		}
	}
}
