package tfconfig

import (
	"time"
)

// TypeServiceToken is an Access service token: a client ID and secret that
// a machine presents instead of a person signing in, such as a server
// enrolling its WARP client unattended from its MDM file.
const TypeServiceToken = "cloudflare_zero_trust_access_service_token"

// defaultServiceTokenDuration is the provider's default duration: a year.
const defaultServiceTokenDuration = 8760 * time.Hour

// ServiceToken is a cloudflare_zero_trust_access_service_token. Cloudflare
// computes its client ID and secret; the simulator mints them (or takes
// them from the simulator file) and keeps them in its state directory.
type ServiceToken struct {
	Resource
	Name string
	// Duration is how long the token is valid from when it was minted.
	Duration time.Duration
}

func (l *loader) decodeServiceToken(res Resource, o *object) {
	t := &ServiceToken{Resource: res, Duration: defaultServiceTokenDuration}
	// Secret rotation changes which secret is accepted, not who may use
	// the token; the simulator mints one secret per token.
	o.ignore("client_secret_version", "previous_client_secret_expires_at")
	t.Name, _ = o.required("name", `"CI machines"`)
	if f := o.get("duration"); f != nil {
		if d, ok := f.duration(); ok {
			t.Duration = d
		}
	}
	l.cfg.ServiceTokens = append(l.cfg.ServiceTokens, t)
}

// ServiceToken returns the service token with ID id, or nil.
func (c *Config) ServiceToken(id string) *ServiceToken {
	for _, t := range c.ServiceTokens {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// checkServiceTokenRefs resolves every service_token selector to a token
// of the directory. A Cloudflare ID that none has is a token made in the
// dashboard or another module: real, so a warning (no device can present
// it here); anything else is a broken reference.
func (l *loader) checkServiceTokenRefs() {
	known := map[string]bool{}
	for _, t := range l.cfg.ServiceTokens {
		known[t.ID] = true
	}
	for _, ref := range l.tokenRefs {
		switch {
		case known[ref.id]:
		case cloudflareID.MatchString(ref.id):
			l.d.warnf(ref.rng, "no %s in %s has the ID %q (a service token made in the dashboard or in another module): the simulator holds no credentials for it, so this selector matches no device here", TypeServiceToken, l.dir, ref.id)
		default:
			l.d.errorf(ref.rng, "no %s has the ID %q; reference one as %s.NAME.id", TypeServiceToken, ref.id, TypeServiceToken)
		}
	}
}
