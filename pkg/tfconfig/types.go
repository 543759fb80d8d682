package tfconfig

import (
	"slices"
	"strings"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/policy"
)

// Resource types the simulator loads (DESIGN §6).
const (
	TypeGatewayPolicy     = "cloudflare_zero_trust_gateway_policy"
	TypeList              = "cloudflare_zero_trust_list"
	TypeIdentityProvider  = "cloudflare_zero_trust_access_identity_provider"
	TypeAccessApplication = "cloudflare_zero_trust_access_application"
	TypeAccessPolicy      = "cloudflare_zero_trust_access_policy"
	TypeOrganization      = "cloudflare_zero_trust_organization"
	TypeDeviceProfile     = "cloudflare_zero_trust_device_default_profile"
)

// Resource identifies one resource block.
type Resource struct {
	Type  string // e.g. "cloudflare_zero_trust_list"
	Label string // the Terraform resource name, e.g. "wiki_IPs"
	ID    string // SyntheticID(Type, Label)
	Pos   Pos    // where the resource block starts
}

// Address returns the Terraform address "type.label".
func (r Resource) Address() string { return r.Type + "." + r.Label }

// Config is a loaded Terraform directory: the supported resources, typed,
// with references resolved. Slices keep the order of the files (sorted by
// name) and of the blocks within them.
type Config struct {
	Dir                string
	GatewayPolicies    []*GatewayPolicy
	Lists              []*List
	IdentityProviders  []*IdentityProvider
	AccessApplications []*AccessApplication
	AccessPolicies     []*AccessPolicy
	Organization       *Organization  // nil when the configuration has none
	DeviceProfile      *DeviceProfile // nil when the configuration has none
	CustomProfiles     []*CustomProfile
	ServiceTokens      []*ServiceToken
}

// GatewayPolicy is a cloudflare_zero_trust_gateway_policy.
type GatewayPolicy struct {
	Resource
	Name        string
	Description string
	// Enabled is false unless the configuration says true: the provider's
	// default, which surprises people, hence the warning when it is absent.
	Enabled bool
	Action  policy.Action
	Filters []policy.Filter
	// Traffic and Identity are the expressions with Terraform references
	// resolved (a list reference reads "$" + the list's SyntheticID).
	Traffic       string
	Identity      string
	DevicePosture string
	// Precedence orders evaluation, lowest first. A policy without one is
	// placed after every explicit precedence, in file order, as the API
	// appends new rules.
	Precedence   int
	CheckSession *policy.CheckSession // nil without rule_settings.check_session
	BlockReason  string
}

// Simulated reports whether the edge evaluates the policy: its filters are
// all among dns, l4 and http.
func (p *GatewayPolicy) Simulated() bool {
	if len(p.Filters) == 0 {
		return false
	}
	for _, f := range p.Filters {
		if f != policy.FilterDNS && f != policy.FilterL4 && f != policy.FilterHTTP {
			return false
		}
	}
	return true
}

// SessionLimit returns the enforced client-session duration of the policy,
// or 0 when it sets none (S3, S4).
func (p *GatewayPolicy) SessionLimit() time.Duration {
	if p.CheckSession == nil || !p.CheckSession.Enforce {
		return 0
	}
	return p.CheckSession.Duration
}

// Rule returns the policy as the rule engine takes it.
func (p *GatewayPolicy) Rule() policy.Rule {
	r := policy.Rule{
		ID:          p.ID,
		Name:        p.Name,
		Precedence:  p.Precedence,
		Enabled:     p.Enabled,
		Action:      p.Action,
		Filters:     append([]policy.Filter(nil), p.Filters...),
		Traffic:     p.Traffic,
		Identity:    p.Identity,
		BlockReason: p.BlockReason,
	}
	if p.CheckSession != nil {
		cs := *p.CheckSession
		r.Session = &cs
	}
	return r
}

// List is a cloudflare_zero_trust_list.
type List struct {
	Resource
	Name        string
	Description string
	Type        policy.ListType
	Items       []ListItem
	// External is set for a list referenced by a literal ID that no
	// resource of the directory declares; Resource holds only its ID.
	External bool
}

// ListItem is one entry of a list.
type ListItem struct {
	Value       string
	Description string
}

// PolicyList returns the list as expressions reference it ($ID).
func (l *List) PolicyList() *policy.List {
	items := make([]string, len(l.Items))
	for i, it := range l.Items {
		items[i] = it.Value
	}
	return &policy.List{ID: l.ID, Name: l.Name, Type: l.Type, Items: items, External: l.External}
}

// IdentityProvider is a cloudflare_zero_trust_access_identity_provider.
type IdentityProvider struct {
	Resource
	Name   string
	Type   string // azureAD, oidc, okta, onetimepin, …
	Config IdPConfig
}

// Identity provider types with special meaning to the simulator.
const (
	IdPAzureAD = "azureAD"
	IdPOIDC    = "oidc"
)

// IdPConfig holds the config attribute fields the simulator uses.
type IdPConfig struct {
	ClientID     string
	ClientSecret secret.Value
	DirectoryID  string
	// Prompt is "login", "select_account", "none" or "" (azureAD only, S11).
	Prompt         string
	AuthURL        string
	TokenURL       string
	CertsURL       string
	IssuerURL      string
	Scopes         []string
	Claims         []string
	EmailClaimName string
	PKCEEnabled    bool
	SupportGroups  bool
}

// Hostnames returns every hostname (and path) the application protects:
// Domain, then the destinations not equal to it.
func (a *AccessApplication) Hostnames() []string {
	var out []string
	for _, h := range append([]string{a.Domain}, a.Destinations...) {
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// AccessApplication is a cloudflare_zero_trust_access_application.
type AccessApplication struct {
	Resource
	Name string
	Type string // self_hosted when the configuration does not say
	// Domain is the primary hostname (and path): domain, or else the
	// first public destination, as Cloudflare computes it.
	Domain string
	// Destinations are the public destinations' hostnames (and paths),
	// in order; provider v5 writes an application's hostnames there.
	Destinations []string
	// SessionDuration is the app's Access session length, 0 when unset.
	SessionDuration time.Duration
	// SessionExpiresImmediately is session_duration "0s": Access's "No
	// duration, expires immediately", a sign-in for every request.
	SessionExpiresImmediately bool
	// AllowAuthenticateViaWARP overrides the organization default when not
	// nil (S9).
	AllowAuthenticateViaWARP *bool
	EnableBindingCookie      bool
	Policies                 []AppPolicy
	// AllowedIdPs are the IDs of the identity providers the application's
	// login offers; empty offers every one.
	AllowedIdPs []string
}

// Hosts returns the lower-case host names of Hostnames: without path or
// port, each once.
func (a *AccessApplication) Hosts() []string {
	var out []string
	for _, h := range a.Hostnames() {
		h = strings.ToLower(h)
		if i := strings.IndexAny(h, "/:"); i >= 0 {
			h = h[:i]
		}
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// ServedAtHostname reports whether Access serves the application at its
// hostnames (self-hosted and browser-rendered types), which is where device
// identity and the simulator's gate apply.
func (a *AccessApplication) ServedAtHostname() bool {
	return slices.Contains(deviceIdentityTypes, a.Type)
}

// TypeWARPApp is the application type of device enrollment permissions:
// its policies decide who may register a device.
const TypeWARPApp = "warp"

// OffersIdP reports whether the application's login offers the identity
// provider with ID id: allowed_idps names it, or is empty.
func (a *AccessApplication) OffersIdP(id string) bool {
	return len(a.AllowedIdPs) == 0 || slices.Contains(a.AllowedIdPs, id)
}

// IdentityProviderName returns the name of the identity provider with ID
// id, or id itself when the directory declares none with it.
func (c *Config) IdentityProviderName(id string) string {
	for _, p := range c.IdentityProviders {
		if p.ID == id {
			return p.Name
		}
	}
	return id
}

// EnrollmentApp returns the type "warp" application, the device enrollment
// permissions, or nil when the configuration has none (then everyone who
// signs in may enroll).
func (c *Config) EnrollmentApp() *AccessApplication {
	for _, a := range c.AccessApplications {
		if a.Type == TypeWARPApp {
			return a
		}
	}
	return nil
}

// AppPolicy is one entry of an application's policies: a reference to a
// cloudflare_zero_trust_access_policy, or an inline policy.
type AppPolicy struct {
	ID         string        // the referenced policy's ID; "" for inline ones
	Precedence int           // 0 when unset
	Policy     *AccessPolicy // the resolved or inline policy; nil when unresolved
}

// AccessPolicy is a cloudflare_zero_trust_access_policy, or an inline
// policy of an application.
type AccessPolicy struct {
	Resource
	Name     string
	Decision string // allow, deny, non_identity, bypass
	Include  []AccessRule
	Exclude  []AccessRule
	Require  []AccessRule
	// SessionDuration overrides the application's when not 0.
	SessionDuration time.Duration
	// SessionExpiresImmediately is session_duration "0s" (see
	// AccessApplication); it overrides the application's too.
	SessionExpiresImmediately bool
}

// AccessRule is one selector of an Access policy's include, exclude or
// require list, such as { email = { email = "a@example.com" } }.
type AccessRule struct {
	// Kind is the selector: email, email_domain, everyone, azure_ad, okta,
	// group (an Access group, not simulated), …
	Kind string
	// Value is the selector's main value (the email, the domain, the IdP
	// group ID or name; for group the Access group ID, for login_method
	// the identity provider ID); "" for everyone and other valueless
	// selectors.
	Value string
	// IdentityProviderID is set for IdP-specific group selectors.
	IdentityProviderID string
}

// Organization is the cloudflare_zero_trust_organization.
type Organization struct {
	Resource
	Name       string
	AuthDomain string
	// WarpAuthSessionDuration bounds Access device identity (S9); 0 when
	// unset.
	WarpAuthSessionDuration  time.Duration
	AllowAuthenticateViaWARP bool
	SessionDuration          time.Duration
}

// DeviceProfile is the cloudflare_zero_trust_device_default_profile.
type DeviceProfile struct {
	Resource
	// AllowedToLeave lets a user log the device out of the organization
	// (S13); true when unset, as in Cloudflare.
	AllowedToLeave bool
	ServiceMode    string // warp, proxy, …; "" when unset
	ServicePort    int    // the local proxy port in proxy mode; 0 when unset
}
