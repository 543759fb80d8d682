# want nothing
# source: cloudflare/terraform-provider-cloudflare,
#   examples/resources/cloudflare_zero_trust_device_custom_profile/resource.tf,
#   commit 2004eede9ec946db6ede20e9bfe165367092b772
# construct: a custom device profile with a match on the user's e-mail, a
#   precedence, and nearly every client setting (split tunnel exclude, DNS
#   search suffixes, service mode with a port, virtual networks).
# provider: accepts; the simulator loads it: its match picks the devices
#   it applies to and its allowed_to_leave decides S13 for them.
resource "cloudflare_zero_trust_device_custom_profile" "developers" {
  account_id = "3a1f0c9e8d7b6a5f4e3d2c1b0a9f8e7d"
  match = "identity.email == \"dev@acme.example\""
  name = "Developers"
  precedence = 100
  allow_mode_switch = true
  allow_updates = true
  allowed_to_leave = true
  auto_connect = 0
  captive_portal = 180
  description = "Profile for the developers' laptops."
  disable_auto_fallback = true
  dns_search_suffixes = [{
    suffix = "dev.acme.internal"
    description = "Development domains"
  }]
  enabled = true
  exclude = [{
    address = "198.51.100.0/24"
    description = "Lab network, outside the tunnel"
  }]
  exclude_office_ips = true
  lan_allow_minutes = 30
  lan_allow_subnet_size = 24
  register_interface_ip_with_dns = true
  sccm_vpn_boundary_support = false
  service_mode_v2 = {
    mode = "proxy"
    port = 3128
  }
  support_url = "https://help.acme.example"
  switch_locked = true
  tunnel_protocol = "wireguard"
  virtual_networks = {
    allowed = ["6e5d4c3b-2a19-4f08-8e7d-6c5b4a392817"]
    default = "6e5d4c3b-2a19-4f08-8e7d-6c5b4a392817"
  }
}
