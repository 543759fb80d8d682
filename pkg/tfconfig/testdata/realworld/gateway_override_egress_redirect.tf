# want warning: 17:1: cloudflare_zero_trust_gateway_policy.pin_intranet_dns has no enabled attribute, and the provider's default is
# want warning: 31:1: cloudflare_zero_trust_gateway_policy.egress_v6 has no enabled attribute, and the provider's default is
# want warning: 37:18: egress policies are not simulated; this policy is loaded but never evaluated
# want warning: 47:1: cloudflare_zero_trust_gateway_policy.redirect_risky has no enabled attribute, and the provider's default is
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_gateway_policy/testdata/teamsruleconfigdns-override.tf,
#   teamsruleconfigegress.tf and teamsruleconfighttp-redirect.tf in the same
#   directory, at commit 24db92988a66a031cb513cd10bafc9edd49f4233 (the first
#   two) and commit 623c40a0fe40d8d58d946e7929e86ab917cbed4b (egress)
# construct: the provider's acceptance tests of the override, egress and
#   redirect actions, none of which sets enabled: a DNS override with
#   override_ips, an egress policy on the egress filter, an HTTP redirect
#   on a security category with redirect settings.
# provider: accepts; the simulator loads all three, warns that the
#   provider's default leaves each disabled, and does not evaluate the
#   egress filter.
resource "cloudflare_zero_trust_gateway_policy" "pin_intranet_dns" {
  account_id  = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name        = "Answer intranet names with fixed addresses"
  description = "DNS override"
  precedence  = 40
  action      = "override"
  filters     = ["dns"]
  traffic     = "any(dns.domains[*] == \"intranet.acme.example\")"

  rule_settings = {
    override_ips  = ["198.51.100.7", "198.51.100.8"]
  }
}

resource "cloudflare_zero_trust_gateway_policy" "egress_v6" {
  account_id  = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name        = "Dedicated egress for web"
  description = "Egress policy"
  precedence  = 9001
  action      = "egress"
  filters     = ["egress"]
  traffic     = "net.dst.port in {443 80}"

  rule_settings = {
    egress = {
      ipv6 = "2001:db8:42::/64"
    }
  }
}

resource "cloudflare_zero_trust_gateway_policy" "redirect_risky" {
  account_id  = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name        = "Redirect a security category"
  description = "HTTP redirect policy"
  precedence  = 41
  action      = "redirect"
  filters     = ["http"]
  traffic     = "any(http.request.uri.security_category[*] in {80})"

  rule_settings = {
    redirect = {
      target_uri                = "https://warning.acme.example"
      include_context           = true
      preserve_path_and_query   = true
    }
  }
}
