package tfconfig

// What changed between the Cloudflare provider v4 and v5, so that a v4
// configuration, or v4 syntax in a v5 one, is an error that says what to
// write instead rather than something silently ignored.

// renamedInV5 maps Zero Trust resource types of the Cloudflare provider v4
// to what provider v5 calls them (as Cloudflare's tf-migrate renames them),
// so that a v4 configuration is an error rather than a valid one with
// nothing loaded. Types v5 kept (cloudflare_zero_trust_gateway_policy,
// cloudflare_zero_trust_list, …) are not here.
var renamedInV5 = map[string]string{
	"cloudflare_teams_rule":                        TypeGatewayPolicy,
	"cloudflare_teams_list":                        TypeList,
	"cloudflare_teams_account":                     "cloudflare_zero_trust_gateway_settings",
	"cloudflare_teams_location":                    "cloudflare_zero_trust_dns_location",
	"cloudflare_teams_proxy_endpoint":              "cloudflare_zero_trust_gateway_proxy_endpoint",
	"cloudflare_access_identity_provider":          TypeIdentityProvider,
	"cloudflare_access_application":                TypeAccessApplication,
	"cloudflare_access_policy":                     TypeAccessPolicy,
	"cloudflare_access_group":                      "cloudflare_zero_trust_access_group",
	"cloudflare_access_service_token":              "cloudflare_zero_trust_access_service_token",
	"cloudflare_access_mutual_tls_certificate":     "cloudflare_zero_trust_access_mtls_certificate",
	"cloudflare_access_ca_certificate":             "cloudflare_zero_trust_access_short_lived_certificate",
	"cloudflare_access_custom_page":                "cloudflare_zero_trust_access_custom_page",
	"cloudflare_access_tag":                        "cloudflare_zero_trust_access_tag",
	"cloudflare_access_keys_configuration":         "cloudflare_zero_trust_access_key_configuration",
	"cloudflare_access_organization":               TypeOrganization,
	"cloudflare_zero_trust_access_organization":    TypeOrganization,
	"cloudflare_device_settings_policy":            TypeDeviceProfile + " (or cloudflare_zero_trust_device_custom_profile for a profile with match and precedence)",
	"cloudflare_zero_trust_device_profiles":        TypeDeviceProfile + " (or cloudflare_zero_trust_device_custom_profile for a profile with match and precedence)",
	"cloudflare_device_posture_rule":               "cloudflare_zero_trust_device_posture_rule",
	"cloudflare_device_posture_integration":        "cloudflare_zero_trust_device_posture_integration",
	"cloudflare_device_managed_networks":           "cloudflare_zero_trust_device_managed_networks",
	"cloudflare_device_dex_test":                   "cloudflare_zero_trust_dex_test",
	"cloudflare_split_tunnel":                      "the include or exclude attribute of " + TypeDeviceProfile,
	"cloudflare_zero_trust_split_tunnel":           "the include or exclude attribute of " + TypeDeviceProfile,
	"cloudflare_fallback_domain":                   "cloudflare_zero_trust_device_default_profile_local_domain_fallback",
	"cloudflare_zero_trust_local_fallback_domain":  "cloudflare_zero_trust_device_default_profile_local_domain_fallback",
	"cloudflare_dlp_profile":                       "cloudflare_zero_trust_dlp_custom_profile",
	"cloudflare_zero_trust_dlp_profile":            "cloudflare_zero_trust_dlp_custom_profile",
	"cloudflare_tunnel":                            "cloudflare_zero_trust_tunnel_cloudflared",
	"cloudflare_argo_tunnel":                       "cloudflare_zero_trust_tunnel_cloudflared",
	"cloudflare_tunnel_config":                     "cloudflare_zero_trust_tunnel_cloudflared_config",
	"cloudflare_tunnel_route":                      "cloudflare_zero_trust_tunnel_cloudflared_route",
	"cloudflare_zero_trust_tunnel_route":           "cloudflare_zero_trust_tunnel_cloudflared_route",
	"cloudflare_tunnel_virtual_network":            "cloudflare_zero_trust_tunnel_cloudflared_virtual_network",
	"cloudflare_zero_trust_tunnel_virtual_network": "cloudflare_zero_trust_tunnel_cloudflared_virtual_network",
}

// v5Lists are attributes that provider v5 takes as a list of objects and
// provider v4 wrote as repeated blocks.
var v5Lists = map[string]bool{
	"include": true, "exclude": true, "require": true, "items": true, "policies": true,
	"destinations": true, "footer_links": true, "fallback_domains": true,
}

// v4Blocks says what to write instead of a provider v4 block, by resource
// type and block type, where the v5 form is not just the block as an
// attribute.
var v4Blocks = map[string]map[string]string{
	TypeList: {
		"items_with_description": `items = [{ value = "10.0.0.10", description = "..." }], one object per item`,
	},
	TypeAccessPolicy: {
		"include": `include = [{ email = { email = "alice@example.com" } }] (a list in v5, one selector per entry, each selector an object)`,
		"exclude": `exclude = [{ email = { email = "mallory@example.com" } }] (a list in v5, one selector per entry, each selector an object)`,
		"require": `require = [{ email_domain = { domain = "example.com" } }] (a list in v5, one selector per entry, each selector an object)`,
	},
}

// v4Attributes are provider v4 attributes that v5 moved into another one.
var v4Attributes = map[string]map[string]string{
	TypeDeviceProfile: {
		"service_mode_v2_mode": `service_mode_v2 = { mode = "warp" }`,
		"service_mode_v2_port": `service_mode_v2 = { mode = "proxy", port = 40000 }`,
	},
}
