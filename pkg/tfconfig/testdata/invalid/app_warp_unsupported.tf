# want: 7:3: allow_authenticate_via_warp is only supported on self_hosted, ssh, vnc, rdp applications
# want: 14:3: enable_binding_cookie is only supported on self_hosted, ssh, vnc, rdp applications
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
