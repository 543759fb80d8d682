package tfconfig

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

var orgIgnored = []string{
	"is_ui_read_only", "ui_read_only_toggle_reason", "user_seat_expiration_inactive_time",
	"auto_redirect_to_identity", "login_design", "custom_pages", "deny_unmatched_requests",
	"deny_unmatched_requests_exempted_zone_names", "mfa_config", "mfa_required_for_all_apps",
	"mfa_ssh_piv_key_requirements",
}

// secondSingleton reports a second resource of a type an account has one
// of (the organization, the device default profile) and marks its
// attributes known, so that only that one error is reported for it. It
// returns true when prev, the first, exists.
func (l *loader) secondSingleton(prev *Resource, o *object, what string) bool {
	if prev == nil {
		return false
	}
	l.d.errorf(o.rng, "a second %s (the first is %s at %s); an account has one %s, keep one", prev.Type, prev.Address(), prev.Pos, what)
	for name := range o.fields {
		o.skip(name)
	}
	o.blocks = nil
	return true
}

func (l *loader) decodeOrganization(res Resource, o *object) {
	if prev := l.cfg.Organization; prev != nil && l.secondSingleton(&prev.Resource, o, "organization") {
		return
	}
	org := &Organization{Resource: res}
	o.ignore(orgIgnored...)
	org.Name = o.str("name")
	org.AuthDomain = o.str("auth_domain")
	org.AllowAuthenticateViaWARP, _ = o.boolean("allow_authenticate_via_warp")
	if f := o.get("warp_auth_session_duration"); f != nil {
		org.WarpAuthSessionDuration, _ = warpAuthDuration(f)
		l.orgWarpSet = true
	}
	if f := o.get("session_duration"); f != nil {
		org.SessionDuration, _ = f.duration()
	}
	l.cfg.Organization = org
}

// hoursMinutes is the form Cloudflare accepts for
// warp_auth_session_duration: hours and minutes only.
var hoursMinutes = regexp.MustCompile(`^(?:[0-9]+h)?(?:[0-9]+m)?$`)

// warpAuthDuration reads warp_auth_session_duration, which Cloudflare
// accepts in hours and minutes only ("30m", "2h45m"): "300s" is a valid Go
// duration that the API rejects.
func warpAuthDuration(f *field) (time.Duration, bool) {
	s, ok := f.str()
	if !ok {
		return 0, false
	}
	if s != "" && hoursMinutes.MatchString(s) {
		return f.duration()
	}
	msg := fmt.Sprintf(`%s %q: Cloudflare accepts only hours (h) and minutes (m) here, such as "30m", "12h" or "2h45m"`, f.path, s)
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		if hm := formatHoursMinutes(d.Round(time.Minute)); hm != "" {
			msg += fmt.Sprintf("; write %q", hm)
		}
	}
	f.errorf("%s", msg)
	return 0, false
}

// formatHoursMinutes writes d as "2h45m", "12h" or "5m"; "" below a
// minute.
func formatHoursMinutes(d time.Duration) string {
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return ""
}

// serviceModes are the device profile's service_mode_v2 modes.
var serviceModes = []string{"warp", "1dot1", "proxy", "posture_only", "warp_tunnel_only"}

var deviceProfileIgnored = []string{
	"allow_mode_switch", "allow_updates", "auto_connect", "captive_portal", "disable_auto_fallback",
	"exclude", "exclude_office_ips", "include", "fallback_domains", "lan_allow_minutes",
	"lan_allow_subnet_size", "register_interface_ip_with_dns", "sccm_vpn_boundary_support",
	"support_url", "switch_locked", "tunnel_protocol", "doh_in_tunnel", "dns_search_suffixes", "virtual_networks",
}

func (l *loader) decodeDeviceProfile(res Resource, o *object) {
	if prev := l.cfg.DeviceProfile; prev != nil && l.secondSingleton(&prev.Resource, o, "default profile") {
		return
	}
	dp := &DeviceProfile{Resource: res}
	l.decodeProfileSettings(dp, o)
	l.cfg.DeviceProfile = dp
}

// decodeProfileSettings reads the settings a default and a custom profile
// share.
func (l *loader) decodeProfileSettings(dp *DeviceProfile, o *object) {
	dp.AllowedToLeave = true
	o.ignore(deviceProfileIgnored...)
	if v, ok := o.boolean("allowed_to_leave"); ok {
		dp.AllowedToLeave = v
	}
	if f := o.get("service_mode_v2"); f != nil {
		if sm, ok := f.object(); ok {
			// mode is optional in provider v5: without it the client keeps
			// its default mode, warp.
			mode, mf := "warp", sm.get("mode")
			if mf != nil {
				mode, _ = mf.str()
			}
			if mf != nil && mode != "" && !slices.Contains(serviceModes, mode) {
				mf.errorf("service_mode_v2.mode %q is not a client mode%s; use one of %s", mode, suggest(mode, serviceModes), strings.Join(serviceModes, ", "))
			}
			dp.ServiceMode = mode
			if pf := sm.get("port"); pf != nil {
				if port, ok := pf.integer(); ok {
					if port < 1 || port > 65535 {
						pf.errorf("service_mode_v2.port %d is not a TCP port; use 1-65535 (the client's default proxy port is 40000)", port)
					}
					dp.ServicePort = port
				}
			}
			sm.finish()
		}
	}
}
