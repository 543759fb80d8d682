package policy

import "sort"

// fieldType is the type of a field's value.
type fieldType int

const (
	typeString fieldType = iota
	typeInt
	typeIP
)

func (t fieldType) String() string {
	switch t {
	case typeInt:
		return "number"
	case typeIP:
		return "IP address"
	default:
		return "string"
	}
}

// fieldID names a field inside compiled expressions.
type fieldID int

const (
	fDNSFQDN fieldID = iota
	fDNSDomains
	fNetDstIP
	fNetDstPort
	fNetProtocol
	fNetSNIHost
	fHTTPHost
	fHTTPDomains
	fHTTPURI
	fHTTPPath
	fHTTPMethod
	fIdentityEmail
	fIdentityName
	fIdentityGroups
	// fUnsimulated is every field the language knows and the simulator
	// has no value for.
	fUnsimulated
)

// field describes one selector of the language.
type field struct {
	id    fieldID
	name  string
	typ   fieldType
	array bool // an array: used as f[*] inside any()
	// fold: compared case-insensitively (host names, e-mail addresses,
	// groups, methods), as Gateway does.
	fold bool
	// filters the field may appear in; nil for identity fields, which belong
	// in the identity expression of any filter.
	filters []Filter
	// unsimulated is set for a field Gateway has that the simulator does
	// not evaluate: a comparison on it never matches, as if the flow had
	// no value for it (its arrays are empty).
	unsimulated bool
}

var fields = map[string]*field{
	"dns.fqdn":              {id: fDNSFQDN, typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.domains":           {id: fDNSDomains, typ: typeString, fold: true, array: true, filters: []Filter{FilterDNS}},
	"net.dst.ip":            {id: fNetDstIP, typ: typeIP, filters: []Filter{FilterL4}},
	"net.dst.port":          {id: fNetDstPort, typ: typeInt, filters: []Filter{FilterL4}},
	"net.protocol":          {id: fNetProtocol, typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"net.sni.host":          {id: fNetSNIHost, typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"http.request.host":     {id: fHTTPHost, typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.request.domains":  {id: fHTTPDomains, typ: typeString, fold: true, array: true, filters: []Filter{FilterHTTP}},
	"http.request.uri":      {id: fHTTPURI, typ: typeString, filters: []Filter{FilterHTTP}},
	"http.request.uri.path": {id: fHTTPPath, typ: typeString, filters: []Filter{FilterHTTP}},
	"http.request.method":   {id: fHTTPMethod, typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"identity.email":        {id: fIdentityEmail, typ: typeString, fold: true},
	"identity.name":         {id: fIdentityName, typ: typeString},
	// Also spelled identity.groups[*].name; the lexer folds both spellings.
	"identity.groups.name": {id: fIdentityGroups, typ: typeString, fold: true, array: true},
}

// unsimulatedFields are fields of Cloudflare Gateway's selector tables
// that the simulator has no value for. They load, so that real
// configurations do; each comparison on one is false.
var unsimulatedFields = map[string]*field{
	"dns.content_category":               {typ: typeInt, array: true, filters: []Filter{FilterDNS}},
	"dns.security_category":              {typ: typeInt, array: true, filters: []Filter{FilterDNS}},
	"dns.resolved_ips":                   {typ: typeIP, array: true, filters: []Filter{FilterDNS}},
	"http.request.uri.content_category":  {typ: typeInt, array: true, filters: []Filter{FilterHTTP}},
	"http.request.uri.security_category": {typ: typeInt, array: true, filters: []Filter{FilterHTTP}},
	"net.src.ip":                         {typ: typeIP, filters: []Filter{FilterL4}},
	"net.sni.domains":                    {typ: typeString, fold: true, array: true, filters: []Filter{FilterL4}},
	"net.detected_protocol":              {typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"net.vnet_id":                        {typ: typeString, filters: []Filter{FilterL4}},
	"identity.groups.id":                 {typ: typeString, fold: true, array: true},
	"identity.groups.email":              {typ: typeString, fold: true, array: true},
}

func init() {
	for name, f := range fields {
		f.name = name
	}
	for name, f := range unsimulatedFields {
		f.name, f.id, f.unsimulated = name, fUnsimulated, true
		fields[name] = f
	}
}

// FieldNames returns every field the language knows (simulated or not),
// sorted.
func FieldNames() []string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
