// Package limits holds what the edge's listeners and login flows share to
// bound what one client can make them hold: the key a client is counted
// under, and how a wait is told to a person.
package limits

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ClientKey returns the key a request from remoteAddr (an http.Request's
// RemoteAddr) is counted under: the IPv4 address, or the /64 of an IPv6
// one, since a single IPv6 host usually holds a whole /64. loopback
// reports whether the client is on this host, where the address says
// nothing about who is asking: every local user is 127.0.0.1.
func ClientKey(remoteAddr string) (key string, loopback bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		// Not an IP:port (a unix socket, a test's made-up address): one
		// key for all of them, so that they are still bounded together.
		return "unknown", false
	}
	a := ap.Addr().Unmap()
	if a.Is4() {
		return a.String(), a.IsLoopback()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String(), a.IsLoopback()
}

// Wait describes d for a person, rounded up to the second: "45 seconds",
// "1 minute 30 seconds", "10 minutes".
func Wait(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	h, m, sec := s/3600, s/60%60, s%60
	var parts []string
	add := func(n int64, unit string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+unit)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", n, unit))
		}
	}
	add(h, "hour")
	add(m, "minute")
	if h == 0 {
		add(sec, "second")
	}
	return strings.Join(parts, " ")
}
