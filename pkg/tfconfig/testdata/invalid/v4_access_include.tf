# want: 10:3: include is written as a block, the Cloudflare provider v4 syntax; ... write include = [{ email = { email = "alice@example.com" } }] (a list in v5
# want: 13:3: require is written as a block ... require = [{
# want: 20:3: service_mode_v2_mode is a Cloudflare provider v4 attribute; provider v5, which the simulator reads, writes service_mode_v2 = { mode = "warp" }
# want: 21:3: exclude is written as a block ... a list attribute: write exclude = [{ ... }]
# A v4 include block is one error with the v5 form, and no second "has no
# include" error.
resource "cloudflare_zero_trust_access_policy" "employees" {
  name     = "Employees"
  decision = "allow"
  include {
    email = ["alice@example.com"]
  }
  require {
    email_domain = ["example.com"]
  }
}

resource "cloudflare_zero_trust_device_default_profile" "default" {
  allowed_to_leave     = true
  service_mode_v2_mode = "warp"
  exclude {
    address = "10.0.0.0/8"
  }
}
