# want warning: 13:23: network is a device profile field the simulator does not simulate
# want warning: 22:3: precedence 20 of cloudflare_zero_trust_device_custom_profile.same_precedence is also the precedence of cloudflare_zero_trust_device_custom_profile.office
# want: 28:56: match expression: field net.dst.port is a Gateway traffic field
# want: 32:1: cloudflare_zero_trust_device_custom_profile.incomplete has no match
# want: 32:1: cloudflare_zero_trust_device_custom_profile.incomplete has no precedence
# Custom device profiles: match and precedence are required (the provider's
# schema); a match reads identity and device fields only, and a field the
# simulator has no value for (network, the managed network) loads with a
# warning; two profiles with one precedence get a warning.
resource "cloudflare_zero_trust_device_custom_profile" "office" {
  account_id       = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name             = "Office network"
  match            = "network == \"HQ\" and identity.email matches \".*@example.com\""
  precedence       = 20
  allowed_to_leave = false
}

resource "cloudflare_zero_trust_device_custom_profile" "same_precedence" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Same precedence"
  match      = "os.name == \"mac\""
  precedence = 20
}

resource "cloudflare_zero_trust_device_custom_profile" "traffic_field" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Traffic field"
  match      = "identity.email == \"a@example.com\" or net.dst.port == 22"
  precedence = 30
}

resource "cloudflare_zero_trust_device_custom_profile" "incomplete" {
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name       = "Incomplete"
}
