package tfconfig

import (
	"slices"

	"github.com/ztagent/ztagent/pkg/policy"
)

// TypeDeviceCustomProfile is a device profile for the devices its match
// selects.
const TypeDeviceCustomProfile = "cloudflare_zero_trust_device_custom_profile"

// CustomProfile is a cloudflare_zero_trust_device_custom_profile: the
// settings of the devices whose user and device its match selects. The
// enabled profile with the lowest precedence that matches applies; a
// device no profile matches gets the default profile.
type CustomProfile struct {
	DeviceProfile
	Name        string
	Description string
	// Match is the rule-language expression over identity and device
	// fields; "" matches every device.
	Match      string
	Precedence int
	// Enabled is true unless the configuration says false.
	Enabled bool
}

// profileMeta keeps where a custom profile's checked attributes were
// written.
type profileMeta struct {
	p          *CustomProfile
	match      *field
	matchOK    bool
	precedence *field
}

func (l *loader) decodeCustomProfile(res Resource, o *object) {
	p := &CustomProfile{DeviceProfile: DeviceProfile{Resource: res}, Enabled: true}
	m := &profileMeta{p: p}
	p.Name, _ = o.required("name", `"Contractors"`)
	p.Description = o.str("description")
	if v, ok := o.boolean("enabled"); ok {
		p.Enabled = v
	}
	// The provider requires match and precedence.
	if m.match = o.get("match"); m.match != nil {
		p.Match, m.matchOK = m.match.str()
	} else if !o.hasBlock("match") {
		l.d.errorf(o.rng, `%s has no match; add match = "identity.groups.name == \"contractors\""`, o.desc)
	}
	if f := o.get("precedence"); f != nil {
		if n, ok := f.integer(); ok {
			p.Precedence, m.precedence = n, f
		}
	} else if !o.hasBlock("precedence") {
		l.d.errorf(o.rng, "%s has no precedence; add precedence = 100 (lower applies first)", o.desc)
	}
	l.decodeProfileSettings(&p.DeviceProfile, o)
	l.cfg.CustomProfiles = append(l.cfg.CustomProfiles, p)
	l.profiles = append(l.profiles, m)
}

// compileProfiles type-checks every match and warns about profiles that
// share a precedence: Cloudflare orders profiles by it, and two with one
// leave the order between them to the service.
func (l *loader) compileProfiles(lists policy.Lists) {
	first := map[int]*profileMeta{}
	for _, m := range l.profiles {
		if m.match != nil && m.matchOK {
			e, err := policy.CompileDeviceMatch(m.p.Match, lists)
			l.exprError(m.match, m.p.Match, "match", err)
			l.warnUnsimulated(m.match, e, "device profile field")
		}
		if m.precedence == nil {
			continue
		}
		if prev, ok := first[m.p.Precedence]; ok {
			l.d.warnf(m.precedence.keyRng, "precedence %d of %s is also the precedence of %s at %s; give each profile its own, or which applies is up to Cloudflare (the simulator takes the one declared first)", m.p.Precedence, m.p.Address(), prev.p.Address(), posOf(prev.precedence.keyRng))
			continue
		}
		first[m.p.Precedence] = m
	}
}

// ProfilesInOrder returns the enabled custom profiles in the order they are
// matched: by precedence, then declaration.
func (c *Config) ProfilesInOrder() []*CustomProfile {
	var out []*CustomProfile
	for _, p := range c.CustomProfiles {
		if p.Enabled {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *CustomProfile) int { return a.Precedence - b.Precedence })
	return out
}
