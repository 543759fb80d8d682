package wg

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// networkFromSim turns a loaded simulator file into the edge's virtual
// network, with the team domain and the IdP as edge services (S15) on the
// resolver address. It lives in a test because package wg does not import
// tfconfig; edged's wiring is where it belongs.
func networkFromSim(sim *tfconfig.Sim) (Network, error) {
	n := Network{Resolver: sim.Network.Resolver}
	for _, r := range sim.Network.Records {
		n.Records = append(n.Records, Record{Name: r.Name, Addresses: r.Addresses})
	}
	for _, u := range sim.Network.Upstreams {
		p, ok := ParseProtocol(u.Protocol)
		if !ok {
			return Network{}, fmt.Errorf("%v: upstream %v has protocol %q; use tcp or udp", u.Pos, u.Address, u.Protocol)
		}
		n.Upstreams = append(n.Upstreams, Upstream{Address: u.Address, Protocol: p, Target: u.Target})
	}
	for _, svc := range []struct {
		url    string
		listen netip.AddrPort
	}{{sim.TeamDomainURL(), sim.Listen.TeamDomain}, {sim.IdPURL(), sim.Listen.IdP}} {
		s, err := ServiceForURL(svc.url, sim.Network.Resolver, svc.listen)
		if err != nil {
			return Network{}, err
		}
		n.Services = append(n.Services, s)
	}
	return n, nil
}

func TestExampleSimulatorNetwork(t *testing.T) {
	checkLeaks(t)
	sim, diags := tfconfig.LoadSim("../../../examples/acme/simulator.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	n, err := networkFromSim(sim)
	if err != nil {
		t.Fatal(err)
	}
	edge := newEdge(t, Config{Network: n})
	c := newClient(t, edge, clientAddr, "dev-1")
	for name, want := range map[string]string{
		"wiki.acme.internal": "10.0.0.10",
		"acme.localhost":     "100.96.0.1",
		"idp.localhost":      "100.96.0.1",
	} {
		addrs, err := c.net.LookupContextHost(ctxT(t), name)
		if err != nil || !slices.Equal(addrs, []string{want}) {
			t.Errorf("%s resolved to %v, %v; want %s", name, addrs, err, want)
		}
	}
	target, service := edge.netmap.Load().route(TCP, netip.MustParseAddrPort("100.96.0.1:8782"))
	if target != "127.0.0.1:8782" || service != "idp.localhost" {
		t.Fatalf("the IdP's virtual address routes to %q (service %q)", target, service)
	}
}
