package tfconfig

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ztagent/ztagent/internal/secret"
)

// Simulator defaults, used for what the simulator file leaves out.
var (
	DefaultAPIAddr        = netip.MustParseAddrPort("127.0.0.1:8780")
	DefaultTeamDomainAddr = netip.MustParseAddrPort("127.0.0.1:8781")
	DefaultIdPAddr        = netip.MustParseAddrPort("127.0.0.1:8782")
	DefaultWireGuardAddr  = netip.MustParseAddrPort("127.0.0.1:2408")
	DefaultResolver       = netip.MustParseAddr("100.96.0.1")
	DefaultAddressPool    = netip.MustParsePrefix("100.96.0.0/12")
)

// Sim is a loaded simulator file (--sim): what Terraform does not describe.
type Sim struct {
	File    string
	Team    string
	Listen  Listeners
	IdP     SimIdP
	Network Network
	// Lists give items to lists the Terraform references by a literal ID
	// without declaring them (see Link).
	Lists []*SimList
	// ServiceTokens give Terraform service tokens known credentials.
	ServiceTokens []*SimServiceToken
}

// SimList is a list "<id>" block: the items of a list made outside the
// Terraform directory.
type SimList struct {
	ID    string
	Items []string
	Pos   Pos
}

// Listeners are the simulator's listening addresses.
type Listeners struct {
	API        netip.AddrPort // control and admin API (HTTP)
	TeamDomain netip.AddrPort // the team domain (HTTP), http://<team>.localhost:<port>
	IdP        netip.AddrPort // the built-in IdP (HTTP), http://idp.localhost:<port>
	WireGuard  netip.AddrPort // WireGuard (UDP)
}

// TeamDomainURL returns the team domain's origin as browsers reach it,
// http://<team>.localhost:<port>: a distinct origin from the IdP's, so that
// cookies behave as they do between Cloudflare and a real IdP.
func (s *Sim) TeamDomainURL() string {
	return fmt.Sprintf("http://%s.localhost:%d", s.Team, s.Listen.TeamDomain.Port())
}

// IdPURL returns the built-in IdP's origin as browsers reach it,
// http://idp.localhost:<port>.
func (s *Sim) IdPURL() string {
	return fmt.Sprintf("http://idp.localhost:%d", s.Listen.IdP.Port())
}

// SimIdP is the built-in IdP: which Terraform identity provider it plays,
// and its users.
type SimIdP struct {
	// Plays is the Terraform name (label) of the
	// cloudflare_zero_trust_access_identity_provider the built-in IdP
	// stands in for, so that the edge uses its type and prompt. "" when the
	// file does not say; Link then picks the only one.
	Plays string
	// Provider is the identity provider Plays names, set by Link; nil
	// before Link or when Terraform declares none.
	Provider *IdentityProvider
	Users    []*User
	// Groups are the IdP's groups that have an ID or an e-mail address
	// (identity.groups.id and .email); users name their groups.
	Groups []*Group
	// External points identity providers the built-in IdP does not play
	// at other base URLs, for offline tests.
	External []*ExternalIdP
	playsPos Pos
}

// Group is a group of the built-in IdP, as Entra ID and Google Workspace
// describe one: its name, its object ID and its e-mail address.
type Group struct {
	Name  string
	ID    string
	Email string
	Pos   Pos
}

// Group returns the group named name (case-insensitively), or nil.
func (s *SimIdP) Group(name string) *Group {
	for _, g := range s.Groups {
		if strings.EqualFold(g.Name, name) {
			return g
		}
	}
	return nil
}

// User is an account of the built-in IdP.
type User struct {
	Email    string
	Name     string
	Password secret.Value
	Groups   []string
	// SAMLAttributes and OIDCClaims are "name=value", one per value, as
	// identity.saml_attributes and identity.oidc_claims hold them.
	SAMLAttributes []string
	OIDCClaims     []string
	Pos            Pos
}

// Network is the virtual network behind the tunnel.
type Network struct {
	// Resolver is the edge's DNS resolver inside the tunnel; it is never
	// handed to a device.
	Resolver netip.Addr
	// AddressPool is where device tunnel addresses come from.
	AddressPool netip.Prefix
	Records     []*Record
	Upstreams   []*Upstream
	// VNetID is the virtual network's ID (net.vnet_id); DefaultVNetID
	// when the file does not say.
	VNetID string
	// Hosts are the names with content or security categories, from
	// record and host blocks.
	Hosts []*HostCategories
}

// DefaultVNetID is the ID of the virtual network when the simulator file
// gives none: the account's default network.
const DefaultVNetID = "00000000-0000-4000-8000-000000000001"

// HostCategories are the categories Cloudflare's domain categorization
// gives a host (and, unless they have their own, its subdomains).
type HostCategories struct {
	Name     string
	Content  []int
	Security []int
	Pos      Pos
}

// Record is a DNS name of the virtual network.
type Record struct {
	Name      string // lower case, without the trailing dot
	Addresses []netip.Addr
	// Categories are the record's categories; nil when it has none.
	Categories *HostCategories
	Pos        Pos
}

// Upstream maps an address of the virtual network to a real one the edge
// dials when a flow to it is allowed.
type Upstream struct {
	Address  netip.AddrPort // inside the virtual network
	Protocol string         // "tcp" or "udp"
	Target   string         // host:port the edge dials
	Pos      Pos
}

// LoadSim reads a simulator file. Like Load it collects every problem; the
// Sim is fit for use only when the Diagnostics hold no error.
func LoadSim(path string) (*Sim, Diagnostics) {
	src, err := readSimFile(path)
	if err != nil {
		var d diags
		d.at(Error, Pos{File: path, Line: 1, Column: 1}, "cannot read the simulator file: %v; %s", err, readErrorHint(err, "check the path given to --sim and that you may read the file"))
		return &Sim{File: path}, d.list
	}
	return loadSim(src, path)
}
