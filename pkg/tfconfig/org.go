package tfconfig

import (
	"slices"
	"strings"
)

var orgIgnored = []string{
	"is_ui_read_only", "ui_read_only_toggle_reason", "user_seat_expiration_inactive_time",
	"auto_redirect_to_identity", "login_design", "custom_pages", "deny_unmatched_requests",
	"deny_unmatched_requests_exempted_zone_names", "mfa_config", "mfa_required_for_all_apps",
	"mfa_ssh_piv_key_requirements",
}

func (l *loader) decodeOrganization(res Resource, o *object) {
	if prev := l.cfg.Organization; prev != nil {
		l.d.errorf(o.rng, "a second %s (the first is %s at %s); an account has one organization, keep one", TypeOrganization, prev.Address(), prev.Pos)
		for name := range o.fields {
			o.ignore(name)
		}
		return
	}
	org := &Organization{Resource: res}
	o.ignore(orgIgnored...)
	org.Name = o.str("name")
	org.AuthDomain = o.str("auth_domain")
	org.AllowAuthenticateViaWARP, _ = o.boolean("allow_authenticate_via_warp")
	if f := o.get("warp_auth_session_duration"); f != nil {
		org.WarpAuthSessionDuration, _ = f.duration()
	}
	if f := o.get("session_duration"); f != nil {
		org.SessionDuration, _ = f.duration()
	}
	l.cfg.Organization = org
}

// serviceModes are the device profile's service_mode_v2 modes.
var serviceModes = []string{"warp", "1dot1", "proxy", "posture_only", "warp_tunnel_only"}

var deviceProfileIgnored = []string{
	"allow_mode_switch", "allow_updates", "auto_connect", "captive_portal", "disable_auto_fallback",
	"exclude", "exclude_office_ips", "include", "fallback_domains", "lan_allow_minutes",
	"lan_allow_subnet_size", "register_interface_ip_with_dns", "sccm_vpn_boundary_support",
	"support_url", "switch_locked", "tunnel_protocol", "doh_in_tunnel",
}

func (l *loader) decodeDeviceProfile(res Resource, o *object) {
	if prev := l.cfg.DeviceProfile; prev != nil {
		l.d.errorf(o.rng, "a second %s (the first is %s at %s); an account has one default profile, keep one", TypeDeviceProfile, prev.Address(), prev.Pos)
		for name := range o.fields {
			o.ignore(name)
		}
		return
	}
	dp := &DeviceProfile{Resource: res, AllowedToLeave: true}
	o.ignore(deviceProfileIgnored...)
	if v, ok := o.boolean("allowed_to_leave"); ok {
		dp.AllowedToLeave = v
	}
	if f := o.get("service_mode_v2"); f != nil {
		if sm, ok := f.object(); ok {
			mode, mf := sm.required("mode", `"warp"`)
			if mf != nil && mode != "" && !slices.Contains(serviceModes, mode) {
				l.d.errorf(mf.rng, "service_mode_v2.mode %q is not a client mode; use one of %s", mode, strings.Join(serviceModes, ", "))
			}
			dp.ServiceMode = mode
			if pf := sm.get("port"); pf != nil {
				if port, ok := pf.integer(); ok {
					if port < 1 || port > 65535 {
						l.d.errorf(pf.rng, "service_mode_v2.port %d is not a TCP port; use 1-65535 (the client's default proxy port is 40000)", port)
					}
					dp.ServicePort = port
				}
			}
			sm.finish()
		}
	}
	l.cfg.DeviceProfile = dp
}
