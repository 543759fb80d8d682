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
	fIdentityGroupIDs
	fIdentityGroupEmails
	fSAMLAttributes
	fOIDCClaims
	fNetSrcIP
	fNetSNIDomains
	fNetDetectedProtocol
	fNetVNetID
	fDNSResolvedIPs
	fContentCategory  // of the queried name (DNS) or the host (HTTP)
	fSecurityCategory // likewise
	fOSName           // the device's operating system (device profile match)
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
	// firstBytes: known only once the client has sent its first bytes
	// (the TLS SNI, the detected protocol), so the edge holds the flow.
	firstBytes bool
	// device: a field of a device profile's match expression, not of
	// Gateway policies.
	device bool
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
	"net.sni.host":          {id: fNetSNIHost, typ: typeString, fold: true, firstBytes: true, filters: []Filter{FilterL4}},
	"http.request.host":     {id: fHTTPHost, typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.request.domains":  {id: fHTTPDomains, typ: typeString, fold: true, array: true, filters: []Filter{FilterHTTP}},
	"http.request.uri":      {id: fHTTPURI, typ: typeString, filters: []Filter{FilterHTTP}},
	"http.request.uri.path": {id: fHTTPPath, typ: typeString, filters: []Filter{FilterHTTP}},
	"http.request.method":   {id: fHTTPMethod, typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"identity.email":        {id: fIdentityEmail, typ: typeString, fold: true},
	"identity.name":         {id: fIdentityName, typ: typeString},
	// Also spelled identity.groups[*].name; the lexer folds both spellings
	// (and those of .id and .email).
	"identity.groups.name":  {id: fIdentityGroups, typ: typeString, fold: true, array: true},
	"identity.groups.id":    {id: fIdentityGroupIDs, typ: typeString, fold: true, array: true},
	"identity.groups.email": {id: fIdentityGroupEmails, typ: typeString, fold: true, array: true},
	// Elements are "name=value", one per value of each attribute or claim.
	"identity.saml_attributes": {id: fSAMLAttributes, typ: typeString, array: true},
	"identity.oidc_claims":     {id: fOIDCClaims, typ: typeString, array: true},

	"net.src.ip":            {id: fNetSrcIP, typ: typeIP, filters: []Filter{FilterL4}},
	"net.sni.domains":       {id: fNetSNIDomains, typ: typeString, fold: true, array: true, firstBytes: true, filters: []Filter{FilterL4}},
	"net.detected_protocol": {id: fNetDetectedProtocol, typ: typeString, fold: true, firstBytes: true, filters: []Filter{FilterL4}},
	"net.vnet_id":           {id: fNetVNetID, typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"dns.resolved_ips":      {id: fDNSResolvedIPs, typ: typeIP, array: true, filters: []Filter{FilterDNS}},

	// os.name values are Cloudflare's: windows, mac, linux, android,
	// ios, chromeos.
	"os.name": {id: fOSName, typ: typeString, fold: true, device: true},

	"dns.content_category":               {id: fContentCategory, typ: typeInt, array: true, filters: []Filter{FilterDNS}},
	"dns.security_category":              {id: fSecurityCategory, typ: typeInt, array: true, filters: []Filter{FilterDNS}},
	"http.request.uri.content_category":  {id: fContentCategory, typ: typeInt, array: true, filters: []Filter{FilterHTTP}},
	"http.request.uri.security_category": {id: fSecurityCategory, typ: typeInt, array: true, filters: []Filter{FilterHTTP}},
}

// unsimulatedFields are fields of Cloudflare Gateway's selector tables
// that the simulator has no value for. They load, so that real
// configurations do; each comparison on one is false.
//
// The names and types are those of Cloudflare's published selector
// tables (DNS, network and HTTP policies; the identity selectors are all
// simulated). Spellings the docs show in more than one form are listed in
// each, since configurations copy either.
var unsimulatedFields = map[string]*field{
	"dns.authoritative_ns_ips": {typ: typeIP, array: true, filters: []Filter{FilterDNS}},
	"dns.response.cname":       {typ: typeString, fold: true, array: true, filters: []Filter{FilterDNS}},
	"dns.response.mx":          {typ: typeString, fold: true, array: true, filters: []Filter{FilterDNS}},
	"dns.response.ptr":         {typ: typeString, fold: true, array: true, filters: []Filter{FilterDNS}},
	"dns.response.txt":         {typ: typeString, array: true, filters: []Filter{FilterDNS}},
	"dns.location":             {typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.doh_subdomain":        {typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.query_rtype":          {typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.dst.geo.continent":    {typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.dst.geo.country":      {typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.src.geo.continent":    {typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.src.geo.country":      {typ: typeString, fold: true, filters: []Filter{FilterDNS}},
	"dns.src_ip":               {typ: typeIP, filters: []Filter{FilterDNS}},

	"app.ids":         {typ: typeInt, array: true, filters: []Filter{FilterDNS, FilterHTTP, FilterL4}},
	"app.type.ids":    {typ: typeInt, array: true, filters: []Filter{FilterDNS, FilterHTTP, FilterL4}},
	"app.hosts_ids":   {typ: typeInt, array: true, filters: []Filter{FilterHTTP}},
	"app.support_ids": {typ: typeInt, array: true, filters: []Filter{FilterHTTP}},

	"http.dst.ip":                     {typ: typeIP, filters: []Filter{FilterHTTP}},
	"http.src.ip":                     {typ: typeIP, filters: []Filter{FilterHTTP}},
	"http.dst_ip.geo.continent":       {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.dst_ip.geo.country":         {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.src_ip.geo.continent":       {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.src_ip.geo.country":         {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.download.file.type":         {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.upload.file.type":           {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.download.file.types":        {typ: typeString, fold: true, array: true, filters: []Filter{FilterHTTP}},
	"http.upload.file.types":          {typ: typeString, fold: true, array: true, filters: []Filter{FilterHTTP}},
	"http.download.mime":              {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.upload.mime":                {typ: typeString, fold: true, filters: []Filter{FilterHTTP}},
	"http.response.status_code":       {typ: typeInt, filters: []Filter{FilterHTTP}},
	"http.request.uri.category":       {typ: typeInt, array: true, filters: []Filter{FilterHTTP}},
	"http.request.uri.path_and_query": {typ: typeString, filters: []Filter{FilterHTTP}},

	"net.dst.geo.continent": {typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"net.dst.geo.country":   {typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"net.src.geo.continent": {typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"net.src.geo.country":   {typ: typeString, fold: true, filters: []Filter{FilterL4}},
	"net.src.port":          {typ: typeInt, filters: []Filter{FilterL4}},
	"proxy.endpoint":        {typ: typeString, fold: true, filters: []Filter{FilterHTTP, FilterL4}},

	// Device profile match fields (Cloudflare's device profile selectors)
	// besides identity and os.name: the simulator has no OS versions,
	// managed networks, posture results or service tokens.
	"os.version":                   {typ: typeString, device: true},
	"network":                      {typ: typeString, device: true},
	"device_posture.checks.passed": {typ: typeString, array: true, device: true},
	"identity.service_token_uuid":  {typ: typeString, device: true},
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
