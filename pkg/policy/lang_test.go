package policy

import (
	"net/netip"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testLists = Lists{
	"11111111-wiki": {ID: "11111111-wiki", Name: "wiki_IPs", Type: ListIP, Items: []string{"10.0.0.10", "10.0.1.0/24", "2001:db8::/32"}},
	"22222222-dom":  {ID: "22222222-dom", Name: "bad_domains", Type: ListDomain, Items: []string{"Evil.example", "malware.test"}},
	"33333333-mail": {ID: "33333333-mail", Name: "vips", Type: ListEmail, Items: []string{"ceo@example.com"}},
}

func l4(ip string, port uint16) *Flow {
	return &Flow{Filter: FilterL4, DstIP: netip.MustParseAddr(ip), DstPort: port, Protocol: "tcp"}
}

func TestTrafficExpressions(t *testing.T) {
	cases := []struct {
		filter Filter
		expr   string
		flow   *Flow
		want   bool
	}{
		// IPs, CIDRs, sets and lists.
		{FilterL4, `net.dst.ip == 10.0.0.10`, l4("10.0.0.10", 22), true},
		{FilterL4, `net.dst.ip == 10.0.0.0/8`, l4("10.9.9.9", 22), true},
		{FilterL4, `net.dst.ip != 10.0.0.0/8`, l4("10.9.9.9", 22), false},
		{FilterL4, `net.dst.ip in {192.168.0.0/16 10.0.0.10}`, l4("10.0.0.10", 22), true},
		{FilterL4, `net.dst.ip in {192.168.0.0/16, 172.16.0.1}`, l4("10.0.0.10", 22), false},
		{FilterL4, `net.dst.ip in $11111111-wiki`, l4("10.0.1.77", 22), true},
		{FilterL4, `net.dst.ip in $11111111-wiki`, l4("2001:db8::5", 22), true},
		{FilterL4, `net.dst.ip in $11111111-wiki`, l4("10.0.2.1", 22), false},
		{FilterL4, `net.dst.ip == ::ffff:10.0.0.10`, l4("10.0.0.10", 22), true},
		{FilterL4, `net.dst.ip == fe80::1`, l4("fe80::1", 22), true},
		// Ports and ranges.
		{FilterL4, `net.dst.port == 22`, l4("10.0.0.1", 22), true},
		{FilterL4, `net.dst.port in {80 443 8000..8100}`, l4("10.0.0.1", 8080), true},
		{FilterL4, `net.dst.port in {80 443 8000..8100}`, l4("10.0.0.1", 8101), false},
		{FilterL4, `net.dst.port >= 1024 and net.dst.port < 2048`, l4("10.0.0.1", 1500), true},
		{FilterL4, `net.dst.port gt 1024`, l4("10.0.0.1", 1024), false},
		// Strings, folding, logic.
		{FilterL4, `net.protocol == "TCP"`, l4("10.0.0.1", 1), true},
		{FilterL4, `net.sni.host == "Git.Acme.internal"`, &Flow{Filter: FilterL4, SNI: "git.acme.INTERNAL"}, true},
		{FilterL4, `not(net.dst.port == 22) || net.protocol eq "udp"`, l4("10.0.0.1", 22), false},
		{FilterL4, `!(net.dst.port == 22)`, l4("10.0.0.1", 23), true},
		{FilterL4, `net.dst.port == 22 or net.dst.port == 23 and net.protocol == "udp"`, l4("10.0.0.1", 22), true},
		{FilterL4, `(net.dst.port == 22 or net.dst.port == 23) and net.protocol == "udp"`, l4("10.0.0.1", 22), false},
		{FilterL4, "net.dst.port == 22\n  and net.dst.ip == 10.0.0.1", l4("10.0.0.1", 22), true},
		{FilterL4, ``, l4("10.0.0.1", 22), true},
		// DNS.
		{FilterDNS, `dns.fqdn == "wiki.acme.internal"`, &Flow{Filter: FilterDNS, FQDN: "WIKI.acme.internal."}, true},
		{FilterDNS, `any(dns.domains[*] == "acme.internal")`, &Flow{Filter: FilterDNS, FQDN: "a.b.acme.internal"}, true},
		{FilterDNS, `any(dns.domains[*] == "acme.internal")`, &Flow{Filter: FilterDNS, FQDN: "notacme.internal"}, false},
		{FilterDNS, `any(dns.domains[*] in $22222222-dom)`, &Flow{Filter: FilterDNS, FQDN: "x.evil.example"}, true},
		{FilterDNS, `dns.fqdn in $22222222-dom`, &Flow{Filter: FilterDNS, FQDN: "x.evil.example"}, false},
		{FilterDNS, `dns.fqdn matches "^ads?\\."`, &Flow{Filter: FilterDNS, FQDN: "ad.example"}, true},
		{FilterDNS, `dns.fqdn ~ "^ADS\\."`, &Flow{Filter: FilterDNS, FQDN: "ads.example"}, true},
		// HTTP.
		{FilterHTTP, `http.request.host == "wiki.acme.internal"`, &Flow{Filter: FilterHTTP, Host: "Wiki.Acme.Internal:8080"}, true},
		{FilterHTTP, `any(http.request.domains[*] == "acme.internal")`, &Flow{Filter: FilterHTTP, Host: "git.acme.internal"}, true},
		{FilterHTTP, `http.request.uri.path matches "^/admin"`, &Flow{Filter: FilterHTTP, Path: "/admin/users"}, true},
		{FilterHTTP, `http.request.uri == "https://www.example.com/malicious"`, &Flow{Filter: FilterHTTP, URI: "https://www.example.com/malicious"}, true},
		// A trailing dot or a port never hides a host.
		{FilterHTTP, `http.request.host == "blocked.test"`, &Flow{Filter: FilterHTTP, Host: "blocked.test."}, true},
		{FilterHTTP, `http.request.host == "blocked.test"`, &Flow{Filter: FilterHTTP, Host: "Blocked.Test.:443"}, true},
		{FilterHTTP, `any(http.request.domains[*] == "test")`, &Flow{Filter: FilterHTTP, Host: "blocked.test.:443"}, true},
		{FilterHTTP, `http.request.host == "::1"`, &Flow{Filter: FilterHTTP, Host: "[::1]:443"}, true},
		{FilterHTTP, `http.request.host == "::1"`, &Flow{Filter: FilterHTTP, Host: "::1"}, true},
		{FilterL4, `net.sni.host == "blocked.test"`, &Flow{Filter: FilterL4, SNI: "blocked.test."}, true},
		{FilterHTTP, `http.request.method in {"GET" "HEAD"}`, &Flow{Filter: FilterHTTP, Method: "get"}, true},
		{FilterHTTP, `http.request.method in {"GET" "HEAD"}`, &Flow{Filter: FilterHTTP, Method: "POST"}, false},
	}
	for _, tc := range cases {
		e, err := CompileTraffic(tc.expr, []Filter{tc.filter}, testLists)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if got := e.Match(tc.flow); got != tc.want {
			t.Errorf("%q on %+v = %v, want %v", tc.expr, tc.flow, got, tc.want)
		}
	}
}

func TestIdentityExpressions(t *testing.T) {
	alice := &Flow{Email: "Alice@Example.com", Name: "Alice Liddell", Groups: []string{"Engineering", "sre"}}
	cases := []struct {
		expr string
		want bool
	}{
		{`identity.email matches ".*@example.com"`, true},
		{`identity.email == "alice@example.com"`, true},
		{`identity.email in $33333333-mail`, false},
		{`identity.name == "Alice Liddell"`, true},
		{`identity.name == "alice liddell"`, false},
		{`any(identity.groups.name[*] in {"engineering"})`, true},
		{`any(identity.groups[*].name == "SRE")`, true},
		{`any(identity.groups.name[*] == "finance")`, false},
		{`not(any(identity.groups.name[*] == "finance")) and identity.email matches "@example\\.com$"`, true},
	}
	for _, tc := range cases {
		e, err := CompileIdentity(tc.expr, testLists)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if got := e.Match(alice); got != tc.want {
			t.Errorf("%q = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestExpressionErrors checks that every error names its position and what
// was expected.
func TestExpressionErrors(t *testing.T) {
	cases := []struct {
		filter   Filter
		identity bool
		expr     string
		line     int
		col      int
		msg      string
	}{
		{FilterL4, false, `net.dst.ipp == 10.0.0.1`, 1, 1, "unknown field net.dst.ipp"},
		{FilterL4, false, `net.dst.port == 22 and`, 1, 23, "expected a field"},
		{FilterL4, false, `net.dst.port = 22`, 1, 14, "use '=='"},
		{FilterL4, false, `net.dst.port == "22"`, 1, 17, "expected a number"},
		{FilterL4, false, `net.dst.port == 70000`, 1, 17, "out of range"},
		{FilterL4, false, `net.dst.ip == 10.0.0.300`, 1, 15, "not a valid IP"},
		{FilterL4, false, `net.dst.ip == 10.0.0.0/33`, 1, 15, "not a valid CIDR"},
		{FilterL4, false, `net.dst.ip < 10.0.0.1`, 1, 12, "use ==, != or in"},
		{FilterL4, false, `net.dst.ip in $nope`, 1, 15, "unknown list $nope"},
		{FilterL4, false, `net.dst.ip in $wiki_IPs`, 1, 15, "write $11111111-wiki"},
		{FilterL4, false, `net.sni.host in $11111111-wiki`, 1, 17, "type IP"},
		{FilterDNS, false, `dns.fqdn in $33333333-mail`, 1, 13, "use a list of type DOMAIN"},
		{FilterHTTP, true, `identity.email in $22222222-dom`, 1, 19, "use a list of type EMAIL"},
		{FilterL4, false, `net.dst.port in $11111111-wiki`, 1, 17, "cannot be compared with a list"},
		{FilterL4, false, `net.dst.ip in {10.0.0.1`, 1, 24, "not closed"},
		{FilterL4, false, `net.dst.port in {}`, 1, 18, "empty set"},
		{FilterL4, false, `net.dst.port in {90..80}`, 1, 18, "backwards"},
		{FilterL4, false, `(net.dst.port == 22`, 1, 20, "expected ')'"},
		{FilterL4, false, `net.dst.port == 22)`, 1, 19, "expected 'and', 'or'"},
		{FilterL4, false, `net.dst.port`, 1, 13, "expected an operator"},
		{FilterL4, false, "net.dst.port == 22 and\n  net.protocol == tcp", 2, 19, "expected a quoted string"},
		{FilterL4, false, `net.protocol == "tcp`, 1, 17, "not closed"},
		{FilterL4, false, `net.protocol matches "("`, 1, 22, "invalid regular expression: error parsing regexp: missing closing ): `(`"},
		{FilterL4, false, `net.dst.port matches "1"`, 1, 14, "matches applies to strings"},
		{FilterL4, false, `http.request.host == "x"`, 1, 1, "is for http policies"},
		{FilterL4, false, `identity.email == "x"`, 1, 1, "belongs in the identity expression"},
		{FilterDNS, false, `dns.domains[*] == "x"`, 1, 1, "only inside any()"},
		{FilterL4, false, `(net.dst.port == 22 or identity.groups.id == "x"`, 1, 24, "belongs in the identity expression"},
		{FilterHTTP, true, `(identity.groups.id == "x" or identity.groups.id == "y"`, 1, 56, "expected ')'"},
		{FilterL4, false, `net.src.ip == "10.0.0.1"`, 1, 15, "expected an IP address"},
		{FilterHTTP, false, `any(http.request.uri.content_category[*] in {"news"})`, 1, 46, "expected a number"},
		{FilterDNS, false, `any(dns.domains == "x")`, 1, 5, "write dns.domains[*]"},
		{FilterDNS, false, `any(dns.fqdn == "x")`, 1, 5, "needs an array field"},
		{FilterDNS, false, `dns.fqdn[*] == "x"`, 1, 1, "not an array"},
		{FilterDNS, false, `dns.fqdn[0] == "x"`, 1, 9, "only [*]"},
		{FilterDNS, false, `any(dns.domains[*] == "x"`, 1, 26, "closing any("},
		{FilterDNS, false, `dns.fqdn == "x" & dns.fqdn == "y"`, 1, 17, "use '&&'"},
		{FilterDNS, false, `dns.fqdn == "x" # comment`, 1, 17, "unexpected character '#'"},
		{FilterDNS, false, `dns.fqdn < "x"`, 1, 10, "is a string"},
		{FilterDNS, false, `dns.fqdn in "x"`, 1, 13, "expected '{' or a $list"},
		{FilterDNS, false, `dns.fqdn == "x" $`, 1, 17, "after '$'"},
		{FilterHTTP, true, `http.request.host == "x"`, 1, 1, "belongs in the traffic expression"},
		{FilterHTTP, true, `any(identity.groups.name == "eng")`, 1, 5, "write identity.groups.name[*]"},
	}
	for _, tc := range cases {
		var err error
		if tc.identity {
			_, err = CompileIdentity(tc.expr, testLists)
		} else {
			_, err = CompileTraffic(tc.expr, []Filter{tc.filter}, testLists)
		}
		pe, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: err = %v (%T), want *Error", tc.expr, err, err)
			continue
		}
		if pe.Line != tc.line || pe.Column != tc.col || !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("%q: got %d:%d %q, want %d:%d containing %q", tc.expr, pe.Line, pe.Column, pe.Msg, tc.line, tc.col, tc.msg)
		}
		if pe.Offset < 0 || pe.Offset > len(tc.expr) {
			t.Errorf("%q: offset %d outside the expression", tc.expr, pe.Offset)
		}
	}
}

// FuzzCompile feeds arbitrary text to the parser: it must never panic, and
// any error must be positioned inside the input.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`net.dst.ip in $11111111-wiki`, `any(dns.domains[*] == "acme.internal")`,
		`identity.email matches ".*@example.com"`, `net.dst.port in {80 443 8000..8100}`,
		`not(net.dst.ip == 10.0.0.0/8) or net.sni.host == "x"`, `(((`, `"\`, `net.dst.ip == fe80::1`,
		`any(identity.groups[*].name in {"a" "b"})`, `http.request.uri.path matches "^/a"`,
	} {
		f.Add(s)
	}
	filters := []Filter{FilterDNS, FilterL4, FilterHTTP}
	f.Fuzz(func(t *testing.T, src string) {
		for _, id := range []bool{false, true} {
			var e *Expr
			var err error
			if id {
				e, err = CompileIdentity(src, testLists)
			} else {
				e, err = CompileTraffic(src, filters, testLists)
			}
			if err != nil {
				pe, ok := err.(*Error)
				if !ok || pe.Offset < 0 || pe.Offset > len(src) || pe.Line < 1 || pe.Column < 1 {
					t.Fatalf("%q: bad error %#v", src, err)
				}
				continue
			}
			e.Match(&Flow{Filter: FilterL4, FQDN: "a.b", Groups: []string{"X"}})
		}
	})
}

// A list the configuration references but does not declare fits any field
// and matches nothing; a declared list of the wrong type is still refused.
func TestExternalLists(t *testing.T) {
	lists := Lists{
		"ext":    {ID: "ext", Name: "$ext", External: true},
		"emails": {ID: "emails", Name: "Emails", Type: ListEmail, Items: []string{"a@b.c"}},
	}
	for _, src := range []string{"net.dst.ip in $ext", "net.sni.host in $ext", "not(net.dst.ip in $ext)"} {
		e, err := CompileTraffic(src, []Filter{FilterL4}, lists)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		want := strings.HasPrefix(src, "not(")
		if got := e.Match(&Flow{Filter: FilterL4, DstIP: netip.MustParseAddr("10.0.0.1"), SNI: "wiki.acme.internal"}); got != want {
			t.Errorf("%s matched %v, want %v", src, got, want)
		}
	}
	if _, err := CompileTraffic("net.dst.ip in $emails", []Filter{FilterL4}, lists); err == nil {
		t.Error("an EMAIL list was accepted for net.dst.ip")
	}
}

// A Gateway field the simulator does not evaluate compiles, type-checked
// as Gateway types it, is reported with its position, and never matches.
func TestUnsimulatedFields(t *testing.T) {
	src := `any(app.type.ids[*] in {25}) or http.request.host == "wiki.acme.internal"`
	e, err := CompileTraffic(src, []Filter{FilterHTTP}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Unsimulated(); len(got) != 1 || got[0].Name != "app.type.ids" || got[0].Offset != 4 {
		t.Fatalf("Unsimulated() = %+v", got)
	}
	if e.Match(&Flow{Filter: FilterHTTP, Host: "other.example"}) {
		t.Error("a comparison on a field with no value matched")
	}
	if !e.Match(&Flow{Filter: FilterHTTP, Host: "wiki.acme.internal"}) {
		t.Error("the simulated half of the expression stopped matching")
	}
	if n, err := CompileTraffic(`not(net.dst.geo.country == "RU")`, []Filter{FilterL4}, nil); err != nil || !n.Match(&Flow{Filter: FilterL4}) {
		t.Errorf("not() of an unsimulated comparison: %v", err)
	}
	if n, err := CompileTraffic(`dns.src_ip in $11111111-wiki`, []Filter{FilterDNS}, testLists); err != nil || n.Match(&Flow{Filter: FilterDNS}) {
		t.Errorf("an unsimulated IP field against an IP list: %v", err)
	}
	for _, bad := range []string{
		`any(app.type.ids[*] in {"ai"})`,           // an application type is a number
		`any(app.type.ids[*]) == 25`,               // not a comparison inside any()
		`http.download.mime matches "("`,           // a bad pattern
		`any(http.download.mime[*] == "x")`,        // not an array
		`dns.src_ip in $22222222-dom`,              // a DOMAIN list for an address
		`http.response.status_code == "200"`,       // a status is a number
		`any(http.request.uri.category[*] == "x")`, // a category is a number
	} {
		if _, err := CompileTraffic(bad, []Filter{FilterHTTP, FilterDNS}, testLists); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
	if _, err := CompileTraffic(`any(dns.response.cname[*] == "x")`, []Filter{FilterHTTP}, nil); err == nil {
		t.Error("a DNS field compiled in an HTTP policy")
	}
}

// The fields that decide who a session-limited policy covers and what it
// covers are simulated: each matches the value the edge gives the flow.
func TestSimulatedGatewayFields(t *testing.T) {
	id := &Flow{
		GroupIDs:       []string{"61503835-B6FE-4630-AF88-DE551DD59A2F"},
		GroupEmails:    []string{"Eng@Acme.example"},
		SAMLAttributes: []string{"groups=Marketing", "department=Sales"},
		OIDCClaims:     []string{"department=engineering"},
	}
	l4f := &Flow{
		Filter: FilterL4, DstIP: netip.MustParseAddr("10.0.0.10"), DstPort: 22, Protocol: "tcp",
		SrcIP: netip.MustParseAddr("::ffff:100.96.0.2"), SNI: "git.acme.internal", DetectedProtocol: "SSH",
		VNetID: "0E2D4F6A-1111-2222-3333-444455556666",
	}
	dns := &Flow{
		Filter: FilterDNS, FQDN: "news.example",
		ResolvedIPs:       []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")},
		ContentCategories: []int{7, 122}, SecurityCategories: []int{80},
	}
	httpf := &Flow{Filter: FilterHTTP, Host: "news.example", ContentCategories: []int{7}, SecurityCategories: []int{68}}
	identity := []struct {
		expr string
		want bool
	}{
		{`identity.groups.id == "61503835-b6fe-4630-af88-de551dd59a2f"`, true}, // compared directly, case-insensitively
		{`any(identity.groups[*].id in {"x" "61503835-b6fe-4630-af88-de551dd59a2f"})`, true},
		{`identity.groups.id != "61503835-b6fe-4630-af88-de551dd59a2f"`, false}, // no element equals it
		{`identity.groups.id != "other"`, true},
		{`any(identity.groups.email[*] == "eng@acme.example")`, true},
		{`identity.groups.email in $33333333-mail`, false},
		{`any(identity.saml_attributes[*] == "groups=Marketing")`, true},
		{`identity.saml_attributes == "groups=marketing"`, false}, // values keep their case
		{`identity.saml_attributes matches "^department="`, true},
		{`any(identity.oidc_claims[*] == "department=engineering")`, true},
		{`identity.oidc_claims == "department=sales"`, false},
	}
	for _, tc := range identity {
		e, err := CompileIdentity(tc.expr, testLists)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := e.Match(id); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
		}
		if len(e.Unsimulated()) != 0 {
			t.Errorf("%s reports unsimulated fields %v", tc.expr, e.Unsimulated())
		}
	}
	traffic := []struct {
		flow *Flow
		expr string
		want bool
	}{
		{l4f, `net.src.ip == 100.96.0.2`, true},
		{l4f, `net.src.ip in {100.96.0.0/12}`, true},
		{l4f, `net.src.ip != 100.96.0.0/12`, false},
		{l4f, `net.src.ip in $11111111-wiki`, false},
		{&Flow{Filter: FilterL4}, `net.src.ip != 100.96.0.0/12`, false}, // no address, no match
		{l4f, `net.sni.domains == "acme.internal"`, true},
		{l4f, `any(net.sni.domains[*] == "git.acme.internal")`, true},
		{l4f, `any(net.sni.domains[*] == "cme.internal")`, false},
		{l4f, `net.detected_protocol == "ssh"`, true},
		{l4f, `net.detected_protocol in {"http" "tls"}`, false},
		{l4f, `net.vnet_id == "0e2d4f6a-1111-2222-3333-444455556666"`, true},
		{dns, `any(dns.resolved_ips[*] == 192.0.2.0/24)`, true},
		{dns, `dns.resolved_ips in {2001:db8::/32}`, true},
		{dns, `dns.resolved_ips in $11111111-wiki`, true}, // 2001:db8::/32
		{dns, `any(dns.content_category[*] in {1 4..7})`, true},
		{dns, `any(dns.content_category[*] in {1 2 3})`, false},
		{dns, `dns.security_category == 80`, true},
		{dns, `dns.security_category != 80`, false},
		{dns, `any(dns.security_category[*] > 100)`, false},
		{httpf, `any(http.request.uri.content_category[*] in {7})`, true},
		{httpf, `any(http.request.uri.security_category[*] in {68 80})`, true},
		{httpf, `any(http.request.uri.security_category[*] in {80})`, false},
		{&Flow{Filter: FilterHTTP, Host: "x"}, `any(http.request.uri.content_category[*] in {7})`, false},
	}
	for _, tc := range traffic {
		e, err := CompileTraffic(tc.expr, []Filter{tc.flow.Filter}, testLists)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := e.Match(tc.flow); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// A field nobody knows stays an error, naming the closest known field.
func TestUnknownFieldSuggests(t *testing.T) {
	_, err := CompileTraffic(`http.request.hots == "x"`, []Filter{FilterHTTP}, nil)
	if err == nil || !strings.Contains(err.Error(), "unknown field http.request.hots (did you mean http.request.host?)") {
		t.Fatalf("err = %v", err)
	}
	_, err = CompileTraffic(`zzz.yyy == "x"`, []Filter{FilterHTTP}, nil)
	if err == nil || !strings.Contains(err.Error(), "known fields: ") {
		t.Fatalf("err = %v, want the known fields listed", err)
	}
}

// The fields known only from a flow's first bytes are reported from the
// parsed expression, not from its text: a string that spells one does not
// count.
func TestReadsFirstBytes(t *testing.T) {
	for src, want := range map[string]bool{
		`net.sni.host == "git.acme.internal"`:                      true,
		`net.dst.port == 22 or net.sni.domains == "acme.internal"`: true,
		`net.detected_protocol == "ssh"`:                           true,
		`net.dst.port == 22`:                                       false,
		`net.protocol == "net.sni.host"`:                           false,
		``:                                                         false,
	} {
		e, err := CompileTraffic(src, []Filter{FilterL4}, nil)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := e.ReadsFirstBytes(); got != want {
			t.Errorf("%s: ReadsFirstBytes = %v, want %v", src, got, want)
		}
	}
}

// A device profile's match reads identity and device fields: os.name from
// the registered OS, the rest (os.version, network, posture) known and
// never matching. Gateway fields are refused there, and device fields in
// Gateway policies.
func TestDeviceMatch(t *testing.T) {
	linuxAlice := &Flow{Email: "alice@example.com", Groups: []string{"Engineering"}, GroupIDs: []string{"5b2c7e1a"}, OS: "linux"}
	for src, want := range map[string]bool{
		``:                     true,
		`os.name == "linux"`:   true,
		`os.name == "Windows"`: false,
		`identity.email matches ".*@example.com" and os.name in {"linux" "mac"}`: true,
		`any(identity.groups.name[*] in {"engineering"})`:                        true,
		`identity.groups.id == "5b2c7e1a"`:                                       true,
		`network == "office"`:                                                    false,
		`not (os.version == "14.1")`:                                             true,
		`any(device_posture.checks.passed[*] in {"c0ffee"})`:                     false,
	} {
		e, err := CompileDeviceMatch(src, nil)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := e.Match(linuxAlice); got != want {
			t.Errorf("%s: %v, want %v", src, got, want)
		}
	}
	if e, _ := CompileDeviceMatch(`network == "office" or os.version == "1"`, nil); len(e.Unsimulated()) != 2 {
		t.Errorf("unsimulated uses %v, want network and os.version", e.Unsimulated())
	}
	for src, msg := range map[string]string{
		`net.dst.port == 22`: "is a Gateway traffic field; a device profile's match reads identity and device fields",
		`os.nam == "linux"`:  "did you mean os.name?",
	} {
		if _, err := CompileDeviceMatch(src, nil); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", src, err, msg)
		}
	}
	if _, err := CompileIdentity(`os.name == "linux"`, nil); err == nil || !strings.Contains(err.Error(), "belongs in a device profile's match") {
		t.Errorf("os.name in a Gateway identity expression: %v", err)
	}
	if _, err := CompileTraffic(`network == "office"`, []Filter{FilterL4}, nil); err == nil || !strings.Contains(err.Error(), "belongs in a device profile's match") {
		t.Errorf("network in a Gateway traffic expression: %v", err)
	}
}
