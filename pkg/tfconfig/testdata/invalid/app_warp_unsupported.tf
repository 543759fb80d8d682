# want warning: 12:3: allow_authenticate_via_warp on a saas application is accepted but not simulated
# want: 19:3: enable_binding_cookie is only supported on self_hosted, ssh, vnc, rdp, mcp_portal applications
# want: 25:3: allow_authenticate_via_warp is only supported on self_hosted, ssh, vnc, rdp, saas, dash_sso applications
# want warning: 32:3: enable_binding_cookie on a mcp_portal application is accepted but not simulated
# Each attribute on the application types the provider v5.22 accepts it
# on: WARP authentication also on saas and dash_sso, the binding cookie
# also on mcp_portal.
resource "cloudflare_zero_trust_access_application" "saas" {
  name                        = "A SaaS app"
  type                        = "saas"
  session_duration            = "24h"
  allow_authenticate_via_warp = true
}

resource "cloudflare_zero_trust_access_application" "bookmark" {
  name                  = "A bookmark"
  type                  = "bookmark"
  domain                = "intranet.example.com"
  enable_binding_cookie = false
}

resource "cloudflare_zero_trust_access_application" "launcher" {
  name                        = "App launcher"
  type                        = "app_launcher"
  allow_authenticate_via_warp = true
}

resource "cloudflare_zero_trust_access_application" "portal" {
  name                  = "MCP portal"
  type                  = "mcp_portal"
  domain                = "mcp.acme.internal"
  enable_binding_cookie = true
}
