package tunnel

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestSOCKSAddrRoundTrip(t *testing.T) {
	for _, s := range []string{"10.99.0.1:7", "[fd00:99::1]:443", "[::ffff:10.0.0.1]:80"} {
		ap := netip.MustParseAddrPort(s)
		got, err := readSOCKSAddr(bytes.NewReader(appendSOCKSAddr(nil, ap)))
		if err != nil || got.ip != ap.Addr().Unmap() || got.port != ap.Port() || got.host != "" {
			t.Errorf("%s: got %+v, %v", s, got, err)
		}
	}
	dom := append([]byte{socksAtypDomain, byte(len(nameEcho))}, nameEcho...)
	dom = append(dom, 0, 80)
	if got, err := readSOCKSAddr(bytes.NewReader(dom)); err != nil || got.host != nameEcho || got.port != 80 {
		t.Errorf("domain: got %+v, %v", got, err)
	}
	for name, b := range map[string][]byte{
		"unknown type": {0x09, 1, 2, 3, 4, 0, 80},
		"empty domain": {socksAtypDomain, 0, 0, 80},
		"short IPv4":   {socksAtypIPv4, 10, 99},
		"short domain": {socksAtypDomain, 10, 'a', 'b'},
	} {
		if _, err := readSOCKSAddr(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseSOCKSUDP(t *testing.T) {
	dg := append([]byte{0, 0, 0}, appendSOCKSAddr(nil, netip.MustParseAddrPort("10.99.0.1:7"))...)
	dg = append(dg, "payload"...)
	dst, payload, ok := parseSOCKSUDP(dg)
	if !ok || dst.ip != edgeV4 || dst.port != 7 || string(payload) != "payload" {
		t.Fatalf("got %+v %q %v", dst, payload, ok)
	}
	frag := bytes.Clone(dg)
	frag[2] = 1
	for name, b := range map[string][]byte{"fragment": frag, "reserved bits": append([]byte{0, 1}, dg[2:]...), "short": dg[:5]} {
		if _, _, ok := parseSOCKSUDP(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestUDPAssociationSources: datagrams count only from the control
// connection's IP, and once one has arrived, only from its port.
func TestUDPAssociationSources(t *testing.T) {
	a := &udpAssoc{clientIP: netip.MustParseAddr("127.0.0.1")}
	for _, tc := range []struct {
		from string
		want bool
	}{
		{"127.0.0.2:5000", false},
		{"127.0.0.1:5000", true},
		{"127.0.0.1:5001", false},
		{"[::ffff:127.0.0.1]:5000", true},
	} {
		if got := a.accept(netip.MustParseAddrPort(tc.from)); got != tc.want {
			t.Errorf("accept(%s) = %v", tc.from, got)
		}
	}
	declared := &udpAssoc{clientIP: netip.MustParseAddr("127.0.0.1"), wantPort: 6000}
	if declared.accept(netip.MustParseAddrPort("127.0.0.1:5000")) || !declared.accept(netip.MustParseAddrPort("127.0.0.1:6000")) {
		t.Error("the declared source port is not enforced")
	}
}

func TestDialFailureCodes(t *testing.T) {
	dst := netip.MustParseAddrPort("10.99.0.1:7")
	for _, tc := range []struct {
		err  error
		want byte
	}{
		{errors.New("connect tcp 10.99.0.1:7: connection was refused"), socksRefused},
		{errors.New("connect tcp 10.99.0.1:7: no route to host"), socksHostUnreachable},
		{errors.New("network is unreachable"), socksNetUnreachable},
		{context.DeadlineExceeded, socksHostUnreachable},
		{errors.New("something else"), socksGeneralFailure},
	} {
		if got := socksCode(classifyDial(dst, tc.err)); got != tc.want {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.want)
		}
	}
	s := settings{
		addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")},
		allowed:   []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24"), netip.MustParsePrefix("fd00::/8")},
	}
	if got := socksCode(s.check(netip.MustParseAddr("192.0.2.1"))); got != socksNetUnreachable {
		t.Errorf("outside allowed IPs: %d", got)
	}
	if err := s.check(netip.MustParseAddr("fd00::1")); socksCode(err) != socksNetUnreachable || !bytes.Contains([]byte(err.Error()), []byte("no IPv6 address")) {
		t.Errorf("no IPv6 address: %v", err)
	}
}
