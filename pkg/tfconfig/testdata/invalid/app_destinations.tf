# want: 28:28: destination type "publik" is not a Cloudflare destination type (did you mean "public"?)
# want warning: 12:5: private destinations are not simulated
# Provider v5 writes an application's hostnames as destinations: the first
# public one is its domain when domain is unset, so no "has no domain"
# warning; private destinations load, not simulated.
resource "cloudflare_zero_trust_access_application" "docs" {
  name = "Docs"
  type = "self_hosted"
  destinations = [
    { type = "public", uri = "docs.acme.internal" },
    { uri = "handbook.acme.internal/v2" },
    { type = "private", cidr = "10.1.0.0/16", port_range = "443" },
  ]
}

resource "cloudflare_zero_trust_gateway_policy" "docs" {
  name       = "Docs over HTTP"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["http"]
  traffic    = "http.request.host == \"docs.acme.internal\""
}

resource "cloudflare_zero_trust_access_application" "typo" {
  name         = "Typo"
  domain       = "typo.acme.internal"
  destinations = [{ type = "publik", uri = "typo.acme.internal" }]
}
