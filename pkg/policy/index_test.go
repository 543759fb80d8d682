package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// walk is Decide's rule choice without the index: every deciding rule in
// order, as before the index existed.
func walk(e *Engine, f *Flow) string {
	c := newEvalCtx(f)
	for i := range e.deciding[f.Filter] {
		if cr := &e.deciding[f.Filter][i]; c.tryRule(cr) {
			return cr.rule.ID
		}
	}
	return ""
}

// The indexed decision picks the same rule as the walk, over random
// policies mixing single and overlapping prefixes, several prefixes per
// policy, IPv6, the whole space, negations and policies with no
// destination test, for random flows inside and outside them.
func TestIndexedDecideMatchesTheWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	octet := func() int { return rng.IntN(6) }
	traffic := func() string {
		switch rng.IntN(9) {
		case 0:
			return fmt.Sprintf("net.dst.ip in {10.%d.0.0/16}", octet())
		case 1:
			return fmt.Sprintf("net.dst.ip in {10.%d.%d.0/24 10.%d.0.0/16} and net.dst.port in {22 443}", octet(), octet(), octet())
		case 2:
			return fmt.Sprintf("net.dst.ip in {10.%d.%d.%d/32}", octet(), octet(), octet())
		case 3:
			return fmt.Sprintf("net.dst.port in {%d}", []int{22, 80, 443}[rng.IntN(3)])
		case 4:
			return fmt.Sprintf("not net.dst.ip in {10.%d.0.0/16}", octet())
		case 5:
			return "net.dst.ip in {0.0.0.0/0} and net.dst.port in {80}"
		case 6:
			return fmt.Sprintf("net.dst.ip in {10.%d.0.0/16} or net.dst.port in {22}", octet())
		case 7:
			return fmt.Sprintf("net.dst.ip in {fd00::/8 10.%d.0.0/16}", octet())
		}
		return fmt.Sprintf("net.dst.ip in {10.0.0.0/8} and net.dst.ip in {10.%d.0.0/16}", octet())
	}
	var rules []Rule
	for i := range 400 {
		rules = append(rules, Rule{
			ID: fmt.Sprint("r", i), Name: fmt.Sprint("rule ", i), Precedence: rng.IntN(200), Enabled: rng.IntN(10) > 0,
			Action: []Action{ActionAllow, ActionBlock}[rng.IntN(2)], Filters: []Filter{FilterL4}, Traffic: traffic(),
		})
	}
	e := engine(t, rules...)
	if e.v4[FilterL4] == nil {
		t.Fatal("the rules were not indexed")
	}
	decided := 0
	for range 20000 {
		var dst netip.Addr
		switch rng.IntN(10) {
		case 0:
			dst = netip.MustParseAddr("fd00::1")
		case 1:
			dst = netip.AddrFrom4([4]byte{192, 168, byte(rng.IntN(3)), 1})
		default:
			dst = netip.AddrFrom4([4]byte{10, byte(octet()), byte(octet()), byte(octet())})
		}
		f := &Flow{Filter: FilterL4, DstIP: dst, DstPort: uint16([]int{22, 80, 443, 8080}[rng.IntN(4)]), Protocol: "tcp",
			Email: "alice@example.com", AuthTime: authTime, Now: authTime.Add(time.Minute)}
		want := walk(e, f)
		got := ""
		if d := e.Decide(f); d.Rule != nil {
			got = d.Rule.ID
		}
		if got != want {
			t.Fatalf("flow to %v:%d: indexed decision %q, the walk %q", dst, f.DstPort, got, want)
		}
		if got != "" {
			decided++
		}
	}
	if decided < 1000 {
		t.Fatalf("only %d of the flows matched a rule: the test exercises too little", decided)
	}
}

func TestV4IndexEdges(t *testing.T) {
	e := engine(t,
		Rule{ID: "all", Name: "all", Precedence: 9, Enabled: true, Action: ActionAllow, Filters: []Filter{FilterL4}, Traffic: "net.dst.ip in {0.0.0.0/0}"},
		Rule{ID: "top", Name: "top", Precedence: 1, Enabled: true, Action: ActionBlock, Filters: []Filter{FilterL4}, Traffic: "net.dst.ip in {255.255.255.255/32}"},
		Rule{ID: "low", Name: "low", Precedence: 2, Enabled: true, Action: ActionBlock, Filters: []Filter{FilterL4}, Traffic: "net.dst.ip in {0.0.0.0/32}"},
	)
	for addr, want := range map[string]string{"255.255.255.255": "top", "0.0.0.0": "low", "0.0.0.1": "all", "255.255.255.254": "all"} {
		f := &Flow{Filter: FilterL4, DstIP: netip.MustParseAddr(addr), DstPort: 1, Protocol: "tcp"}
		if d := e.Decide(f); d.Rule == nil || d.Rule.ID != want {
			t.Errorf("%s decided %+v, want %s", addr, d.Rule, want)
		}
	}
}
