package session

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
)

// User is the person a device is registered to, as the IdP described them at
// the last authentication.
type User struct {
	Email  string   `json:"email"`
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
}

// IdP is the identity provider the user enrolled with.
type IdP struct {
	// Type is the Cloudflare provider type: azureAD, oidc, okta, onetimepin…
	Type string `json:"type"`
	// Prompt is the azureAD prompt forced on re-authentication ("login",
	// "select_account", "none"), or "".
	Prompt string `json:"prompt,omitempty"`
}

// Team is the Zero Trust organization and where its team domain is served.
type Team struct {
	Name string `json:"name"`
	// Domain is the team domain's origin, such as "http://acme.localhost:8781"
	// or "https://acme.cloudflareaccess.com".
	Domain             string `json:"domain"`
	RefreshIdentityURL string `json:"refresh_identity_url"`
}

// Tunnel is the WireGuard configuration the edge assigned, in the forms wg(8)
// uses, so that any standard WireGuard peer could use it.
type Tunnel struct {
	Endpoint      string   `json:"endpoint"`
	EdgePublicKey string   `json:"edge_public_key"`
	Addresses     []string `json:"addresses"`
	DNS           []string `json:"dns"`
	AllowedIPs    []string `json:"allowed_ips"`
	MTU           int      `json:"mtu"`
}

// Registration is the device's enrollment with the edge: the registration
// response of the control API plus the WireGuard private key the agent
// generated. Secrets are secret.Values, so printing or marshalling a
// Registration never shows them; Store writes them to the keyring.
type Registration struct {
	DeviceID            string       `json:"device_id"`
	DeviceToken         secret.Value `json:"device_token"`
	WireGuardPrivateKey secret.Value `json:"wg_private_key"`
	User                User         `json:"user"`
	IdP                 IdP          `json:"idp"`
	// AuthTime is the IdP's auth_time of the user's last successful
	// authentication, on the edge's clock (S1).
	AuthTime time.Time `json:"auth_time"`
	// ServerTime is the edge's clock when it last told us AuthTime; with the
	// local time it was received (ReceivedAt) it gives the clock offset.
	ServerTime   time.Time `json:"server_time"`
	ReceivedAt   time.Time `json:"received_at"`
	Team         Team      `json:"team"`
	Tunnel       Tunnel    `json:"tunnel"`
	RegisteredAt time.Time `json:"registered_at"`
	// OperatorUID is the local uid that registered the device. It is kept
	// in the same record as the registration, so that a crash can never
	// leave one without the other; nil in records older than the field.
	OperatorUID *int `json:"operator_uid,omitempty"`
	// EnrolledVia says how the device enrolled: EnrolledViaBrowser or
	// EnrolledViaDeviceCode; "" in records older than the field (a
	// browser, then).
	EnrolledVia string `json:"enrolled_via,omitempty"`
	// ServiceToken is the name of the Access service token the device
	// enrolled with (EnrolledViaServiceToken); such a device has no IdP
	// user, IdP or auth_time, and never re-authenticates.
	ServiceToken string `json:"service_token,omitempty"`
}

// How a device enrolled (Registration.EnrolledVia).
const (
	EnrolledViaBrowser      = "browser"
	EnrolledViaDeviceCode   = "device_code"
	EnrolledViaServiceToken = "service_token"
)

// NonIdentity reports whether the device enrolled with a service token:
// no one signed in on it, so there is no session to re-authenticate.
func (r *Registration) NonIdentity() bool { return r.EnrolledVia == EnrolledViaServiceToken }

// Validate reports the first field that makes r unusable, naming it.
func (r *Registration) Validate() error {
	var missing []string
	check := func(ok bool, name string) {
		if !ok {
			missing = append(missing, name)
		}
	}
	check(r.DeviceID != "", "device_id")
	check(!r.DeviceToken.IsZero(), "device_token")
	check(!r.WireGuardPrivateKey.IsZero(), "wg_private_key")
	check(r.User.Email != "", "user.email")
	check(r.IdP.Type != "" || r.NonIdentity(), "idp.type")
	check(!r.AuthTime.IsZero() || r.NonIdentity(), "auth_time")
	check(!r.ServerTime.IsZero(), "server_time")
	check(r.Team.Name != "", "team.name")
	check(r.Team.Domain != "", "team.domain")
	check(r.Tunnel.Endpoint != "", "tunnel.endpoint")
	check(r.Tunnel.EdgePublicKey != "", "tunnel.edge_public_key")
	if len(missing) > 0 {
		return fmt.Errorf("registration is missing %v", missing)
	}
	if r.AuthTime.After(r.ServerTime) {
		return fmt.Errorf("registration auth_time %s is after the edge's server_time %s", r.AuthTime.Format(time.RFC3339), r.ServerTime.Format(time.RFC3339))
	}
	if _, err := TeamDomainHost(r.Team.Domain); err != nil {
		return err
	}
	return nil
}

// EdgeClock returns the offset between the edge's clock and ours, as seen
// when the registration's times were received.
func (r *Registration) EdgeClock() EdgeClock {
	return NewEdgeClock(r.ServerTime, r.ReceivedAt)
}

// TeamDomainHost returns the host[:port] of a team domain, accepting an
// origin ("http://acme.localhost:8781") or a bare host
// ("acme.cloudflareaccess.com", taken as https).
func TeamDomainHost(domain string) (string, error) {
	u, err := parseTeamDomain(domain)
	if err != nil {
		return "", err
	}
	return u.Host, nil
}

func parseTeamDomain(domain string) (*url.URL, error) {
	if domain == "" {
		return nil, errors.New("team domain is empty")
	}
	raw := domain
	if !hasScheme(raw) {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("team domain %q is not a URL: %v", domain, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("team domain %q must use http or https", domain)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("team domain %q must be an origin such as https://acme.cloudflareaccess.com", domain)
	}
	u.Path = ""
	return u, nil
}

func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			return i > 0 && len(s) > i+2 && s[i+1] == '/' && s[i+2] == '/'
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return false
}
