package limits

import (
	"testing"
	"time"
)

func TestClientKey(t *testing.T) {
	for _, c := range []struct {
		in       string
		key      string
		loopback bool
	}{
		{"127.0.0.1:4321", "127.0.0.1", true},
		{"192.0.2.7:80", "192.0.2.7", false},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7", false},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64", false},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64", false},
		{"[::1]:9", "::/64", true},
		{"pipe", "unknown", false},
	} {
		if k, lo := ClientKey(c.in); k != c.key || lo != c.loopback {
			t.Errorf("ClientKey(%q) = %q, %v; want %q, %v", c.in, k, lo, c.key, c.loopback)
		}
	}
}

func TestWait(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                 "1 second",
		time.Millisecond:                  "1 second",
		45 * time.Second:                  "45 seconds",
		time.Minute:                       "1 minute",
		90*time.Second + time.Millisecond: "1 minute 31 seconds",
		10 * time.Minute:                  "10 minutes",
		2*time.Hour + 3*time.Minute + 4e9: "2 hours 3 minutes",
	} {
		if got := Wait(d); got != want {
			t.Errorf("Wait(%v) = %q, want %q", d, got, want)
		}
	}
}
