package simulator

import (
	"fmt"
	"time"

	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/edge/registry"
	"github.com/ztagent/ztagent/pkg/policy"
	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// profile is a custom device profile with its match compiled.
type profile struct {
	p     *tfconfig.CustomProfile
	match *policy.Expr
}

// compileProfiles compiles the enabled custom profiles' matches, in the
// order they are tried. The loader has type-checked them, so an error here
// is a bug.
func compileProfiles(cfg *tfconfig.Config) ([]profile, error) {
	lists := cfg.PolicyLists()
	var out []profile
	for _, p := range cfg.ProfilesInOrder() {
		e, err := policy.CompileDeviceMatch(p.Match, lists)
		if err != nil {
			return nil, fmt.Errorf("%s: match: %w", p.Address(), err)
		}
		out = append(out, profile{p: p, match: e})
	}
	return out, nil
}

// deviceProfile is the profile in force for one device: a custom
// profile's, or the default.
type deviceProfile struct {
	// Name is the custom profile's name; "" for the default profile.
	Name           string
	AllowedToLeave bool
}

// profileFor returns the settings that apply to d: those of the first
// enabled custom profile whose match selects the device's user and OS, as
// Cloudflare picks one, or else the default profile's.
func (c *config) profileFor(d registry.Device) deviceProfile {
	if len(c.profiles) > 0 {
		id := c.directory(gateway.Identity{Email: d.UserEmail, Name: d.UserName, Groups: d.Groups})
		f := id.Flow("", time.Time{})
		f.OS = cloudflareOS(d.OS)
		for _, pr := range c.profiles {
			if pr.match.Match(&f) {
				return deviceProfile{Name: pr.p.Name, AllowedToLeave: pr.p.AllowedToLeave}
			}
		}
	}
	return deviceProfile{AllowedToLeave: c.allowedToLeave()}
}

// cloudflareOS names a device's OS as Cloudflare's os.name does: the agent
// registers Go's GOOS.
func cloudflareOS(goos string) string {
	switch goos {
	case "darwin":
		return "mac"
	}
	return goos
}
