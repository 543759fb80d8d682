# want warning: 21:5: has check_session but no enabled attribute
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_gateway_policy/testdata/teamsruleconfighttp.tf,
#   commit a2efdc5786ae9726d56928dbfe91933bd92404ca (v5.22.0)
# construct: the provider's own acceptance test of check_session, an HTTP
#   allow policy on security and content categories with a duration of
#   hours, minutes and seconds, and extra headers.
# provider: accepts; the simulator loads it (the categories come from the
#   simulator file's hosts) and, as the test leaves enabled unset, warns
#   that the provider's default disables it.
resource "cloudflare_zero_trust_gateway_policy" "risky_but_allowed" {
  name        = "Risky sites, re-authenticated"
  account_id  = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  description = "Allow two categories for people who signed in within the hour"
  precedence  = 12
  action      = "allow"
  filters     = ["http"]
  traffic     = "any(http.request.uri.security_category[*] in {80}) or any(http.request.uri.content_category[*] in {7 12})"
  rule_settings = {
    add_headers = { "X-Reviewed" : ["yes"] }
    check_session = {
      duration = "1h5m30s"
      enforce  = true
    }
  }
}
