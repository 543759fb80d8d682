package accessgate

import (
	"strings"
	"time"

	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// Access policy decisions.
const (
	DecisionAllow       = "allow"
	DecisionDeny        = "deny"
	DecisionBypass      = "bypass"
	DecisionNonIdentity = "non_identity"
)

// Identity is who Access evaluates an application's policies for.
type Identity struct {
	Email  string
	Name   string
	Groups []string
	// AuthTime is when the session that authenticated the request started.
	AuthTime time.Time
	// ServiceTokenID is the service token a device enrolled with (the
	// token's ID); "" for a person. Such a device has no IdP user: only
	// service_token and any_valid_service_token selectors (and everyone)
	// match it.
	ServiceTokenID string
}

// verdict is the outcome of an application's policies for one identity.
type verdict struct {
	// allowed reports whether the request may reach the application.
	allowed bool
	// policy is the policy that decided, nil when none matched (denied).
	policy *tfconfig.AccessPolicy
}

func (v verdict) policyName() string {
	if v.policy == nil {
		return ""
	}
	return v.policy.Name
}

// anonymous evaluates the bypass and non_identity policies, which need no
// signed-in person: the first that matches lets the request through
// unauthenticated. tokenID is the service token the requesting device
// enrolled with ("" for none), which non_identity policies may name.
func (a *app) anonymous(tokenID string) (verdict, bool) {
	var id *Identity
	if tokenID != "" {
		id = &Identity{ServiceTokenID: tokenID}
	}
	for _, p := range a.policies {
		if p.Decision != DecisionBypass && p.Decision != DecisionNonIdentity {
			return verdict{}, false // ordered: the rest are allow and deny
		}
		if matches(p, id) {
			return verdict{allowed: true, policy: p}, true
		}
	}
	return verdict{}, false
}

// decide evaluates the allow and deny policies for id: the first that
// matches decides; none matching denies.
func (a *app) decide(id *Identity) verdict {
	for _, p := range a.policies {
		switch p.Decision {
		case DecisionAllow, DecisionDeny:
			if matches(p, id) {
				return verdict{allowed: p.Decision == DecisionAllow, policy: p}
			}
		}
	}
	return verdict{}
}

// matches reports whether p applies to id (nil: no identity): any include
// rule, every require rule and no exclude rule matches.
func matches(p *tfconfig.AccessPolicy, id *Identity) bool {
	included := false
	for i := range p.Include {
		if ruleMatches(&p.Include[i], id) {
			included = true
			break
		}
	}
	if !included {
		return false
	}
	for i := range p.Require {
		if !ruleMatches(&p.Require[i], id) {
			return false
		}
	}
	for i := range p.Exclude {
		if ruleMatches(&p.Exclude[i], id) {
			return false
		}
	}
	return true
}

// ruleMatches reports whether one selector matches id. Group selectors
// match IdP group names (see the package documentation); selectors the
// simulator does not evaluate never match.
func ruleMatches(r *tfconfig.AccessRule, id *Identity) bool {
	if r.Kind == "everyone" {
		return true
	}
	if id == nil {
		return false
	}
	switch r.Kind {
	case "service_token":
		return id.ServiceTokenID != "" && strings.EqualFold(strings.TrimSpace(r.Value), id.ServiceTokenID)
	case "any_valid_service_token":
		return id.ServiceTokenID != ""
	}
	if id.Email == "" || id.ServiceTokenID != "" {
		return false
	}
	switch r.Kind {
	case "email":
		return strings.EqualFold(strings.TrimSpace(r.Value), id.Email)
	case "email_domain":
		_, domain, ok := strings.Cut(id.Email, "@")
		want := strings.TrimPrefix(strings.TrimSpace(r.Value), "@")
		return ok && want != "" && strings.EqualFold(domain, want)
	case "group", "azure_ad", "okta", "gsuite":
		for _, g := range id.Groups {
			if strings.EqualFold(g, strings.TrimSpace(r.Value)) {
				return true
			}
		}
	}
	return false
}
