package accessgate

import (
	"fmt"

	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// Enrollment is the device enrollment permissions of one configuration:
// the type "warp" Access application, whose policies decide who may
// register a device, as Cloudflare's Settings > WARP Client > Device
// enrollment permissions do. An Enrollment is immutable.
type Enrollment struct {
	app      *tfconfig.AccessApplication // nil: no permissions configured
	policies []*tfconfig.AccessPolicy    // in evaluation order
}

// CompileEnrollment returns the device enrollment permissions of cfg.
func CompileEnrollment(cfg *tfconfig.Config) *Enrollment {
	e := &Enrollment{}
	if cfg == nil {
		return e
	}
	if e.app = cfg.EnrollmentApp(); e.app != nil {
		e.policies = ordered(e.app.Policies)
	}
	return e
}

// EnrollmentVerdict is whether one person may register a device, and why.
type EnrollmentVerdict struct {
	Allowed bool
	// Policy is the name of the policy that decided; "" when none did.
	Policy string
	// Reason says, for the person, why the registration is refused; ""
	// when it is allowed.
	Reason string
}

// Permit evaluates the enrollment policies for id: the first allow or deny
// policy that matches decides, and none matching refuses, as Access
// decides. Without a "warp" application everyone who signed in may enroll
// (the simulator's default, so that a configuration without enrollment
// permissions stays usable).
func (e *Enrollment) Permit(id Identity) EnrollmentVerdict {
	if e.app == nil {
		return EnrollmentVerdict{Allowed: true}
	}
	a := app{policies: e.policies}
	v := a.decide(&id)
	switch {
	case v.allowed:
		return EnrollmentVerdict{Allowed: true, Policy: v.policyName()}
	case v.policy != nil:
		return EnrollmentVerdict{Policy: v.policyName(),
			Reason: fmt.Sprintf("the device enrollment policy %q of %q blocks %s", v.policyName(), e.app.Name, id.Email)}
	case len(e.policies) == 0:
		return EnrollmentVerdict{Reason: fmt.Sprintf("the device enrollment permissions (%q) have no policy, so no one may register a device", e.app.Name)}
	}
	return EnrollmentVerdict{Reason: fmt.Sprintf("no device enrollment policy of %q includes %s", e.app.Name, id.Email)}
}

// PermitServiceToken evaluates the enrollment policies for a device that
// presents the service token with ID tokenID (named name): the first
// Service Auth (non_identity) policy that matches it admits it, as
// Cloudflare's device enrollment does; allow policies never admit a
// token. Without a "warp" application no token may enroll: a token is
// a machine credential, and nothing says which machines may use it.
func (e *Enrollment) PermitServiceToken(tokenID, name string) EnrollmentVerdict {
	if e.app == nil {
		return EnrollmentVerdict{Reason: fmt.Sprintf("there are no device enrollment permissions (a type \"warp\" Access application), so no service token may enroll a device; add one with a Service Auth policy (decision = \"non_identity\") that includes the service token %q", name)}
	}
	id := Identity{ServiceTokenID: tokenID}
	for _, p := range e.policies {
		if p.Decision == DecisionNonIdentity && matches(p, &id) {
			return EnrollmentVerdict{Allowed: true, Policy: p.Name}
		}
	}
	return EnrollmentVerdict{Reason: fmt.Sprintf("no Service Auth policy (decision = \"non_identity\") of %q includes the service token %q", e.app.Name, name)}
}

// OffersIdP reports whether enrollment signs in with the identity provider
// with ID idpID: the "warp" application's allowed_idps name it, or are
// empty, or there is no such application.
func (e *Enrollment) OffersIdP(idpID string) bool {
	return e.app == nil || e.app.OffersIdP(idpID)
}
