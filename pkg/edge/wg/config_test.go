package wg

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ztagent/ztagent/internal/wgkey"
)

func TestNewRejectsBadConfig(t *testing.T) {
	checkLeaks(t)
	up := func(addr string, p Protocol, target string) Upstream {
		return Upstream{Address: netip.MustParseAddrPort(addr), Protocol: p, Target: target}
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"small MTU", Config{MTU: 576}, "MTU 576 is out of range"},
		{"duplicate upstream", Config{Network: Network{Upstreams: []Upstream{
			up("10.0.0.1:80", TCP, "127.0.0.1:1"), up("10.0.0.1:80", TCP, "127.0.0.1:2")}}}, "declared twice"},
		{"no protocol", Config{Network: Network{Upstreams: []Upstream{up("10.0.0.1:80", 0, "127.0.0.1:1")}}}, "no protocol"},
		{"bad target", Config{Network: Network{Upstreams: []Upstream{up("10.0.0.1:80", TCP, "localhost")}}}, "not host:port"},
		{"no port", Config{Network: Network{Upstreams: []Upstream{up("10.0.0.1:0", TCP, "127.0.0.1:1")}}}, "with a port"},
		{"resolver port", Config{Network: Network{Upstreams: []Upstream{up("100.96.0.1:53", TCP, "127.0.0.1:1")}}}, "resolver's DNS port"},
		{"record twice", Config{Network: Network{Records: []Record{{Name: "a.test"}, {Name: "A.test."}}}}, "declared twice"},
		{"service clash", Config{Network: Network{
			Records:  []Record{{Name: "acme.localhost", Addresses: []netip.Addr{echoIP}}},
			Services: []Service{{Names: []string{"acme.localhost"}, Address: teamAddr, Target: "127.0.0.1:8781"}},
		}}, "both a record and an edge service"},
		{"service on upstream", Config{Network: Network{
			Upstreams: []Upstream{up("100.96.0.1:8781", TCP, "127.0.0.1:1")},
			Services:  []Service{{Names: []string{"acme.localhost"}, Address: teamAddr, Target: "127.0.0.1:8781"}},
		}}, "an upstream already maps"},
		{"unspecified resolver", Config{Network: Network{Resolver: netip.IPv4Unspecified()}}, "resolver address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestEdgeUsesGivenKey(t *testing.T) {
	checkLeaks(t)
	priv, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	edge := newEdge(t, Config{PrivateKey: priv})
	if edge.PublicKey() != priv.Public() || !edge.PrivateKey().Equal(priv) {
		t.Fatal("the edge did not use the key it was given")
	}
	if edge.Addr().Addr() != netip.MustParseAddr("127.0.0.1") || edge.Addr().Port() == 0 {
		t.Fatalf("Addr = %v", edge.Addr())
	}
	if edge.MTU() != DefaultMTU || edge.Resolver() != DefaultResolver {
		t.Fatalf("defaults: MTU %d resolver %v", edge.MTU(), edge.Resolver())
	}
}

func TestSetNetworkReloads(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	edge := newEdge(t, Config{})
	c := newClient(t, edge, clientAddr, "dev-1")
	expectRefused(t, c, echoAddr)
	if err := edge.SetNetwork(srv.network()); err != nil {
		t.Fatal(err)
	}
	conn, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "after reload")
	n := srv.network()
	n.Resolver = netip.MustParseAddr("100.96.0.53")
	if err := edge.SetNetwork(n); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Fatalf("SetNetwork with a new resolver: %v", err)
	}
	n.Resolver = netip.Addr{}
	n.Upstreams = append(n.Upstreams, n.Upstreams[0])
	if err := edge.SetNetwork(n); err == nil {
		t.Fatal("SetNetwork accepted a bad network")
	}
}

// SEC5: the edge's private key never reaches its logs.
func TestLogsNeverCarryThePrivateKey(t *testing.T) {
	checkLeaks(t)
	core, logs := observer.New(zap.DebugLevel)
	priv, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	srv := startServers(t)
	edge := newEdge(t, Config{PrivateKey: priv, Network: srv.network(), Logger: zap.New(core)})
	c := newClient(t, edge, clientAddr, "dev-1")
	conn, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, conn, "canary")
	conn.Close()
	edge.Close()

	canaries := []string{priv.Secret().Reveal(), priv.UAPIHex()}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged; the check would prove nothing")
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, canary := range canaries {
			if strings.Contains(line, canary) {
				t.Fatalf("a log line carries the private key: %s", line)
			}
		}
	}
}
