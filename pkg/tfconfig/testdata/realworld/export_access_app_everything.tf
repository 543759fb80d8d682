# want warning: 21:3: allow_authenticate_via_warp is on, but device identity cannot apply to
# want warning: 22:19: no cloudflare_zero_trust_access_identity_provider in testdata/realworld has the ID
# want warning: 39:6: private destinations are not simulated: the simulator serves an application at its public hostnames only
# want warning: 53:10: no cloudflare_zero_trust_access_policy in testdata/realworld has the ID
# source: cloudflare/cf-terraforming,
#   testdata/terraform/v5/cloudflare_zero_trust_access_application/test.tf,
#   commit 3c5ba65d6a20f268b9f8996cf8706e44315a147f
# construct: a cf-terraforming export of a self-hosted application with a
#   path in its domain, public and private destinations, self_hosted_domains,
#   CORS, SCIM provisioning, cookie attributes, both
#   allow_authenticate_via_warp and enable_binding_cookie, and an IdP, a
#   custom page and a policy referenced by Cloudflare ID (32 hex digits and
#   a UUID).
# provider: accepts; the simulator loads it, warns about the IdP and the
#   policy it cannot see, about the private destination, and that device
#   identity cannot apply under the binding cookie.
resource "cloudflare_zero_trust_access_application" "exported_admin" {
  domain = "admin.acme.example/console"
  type = "self_hosted"
  zone_id = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a"
  allow_authenticate_via_warp = true
  allowed_idps = ["b6a5f4e3d2c1b0a9f8e7d6c5b4a39281"]
  app_launcher_visible = true
  auto_redirect_to_identity = true
  cors_headers = {
    allow_all_headers = true
    allow_all_methods = true
    allowed_origins = ["https://console.acme.example"]
    max_age = -1
  }
  custom_deny_message = "Ask the platform team"
  custom_pages = ["c7b6a5f4e3d2c1b0a9f8e7d6c5b4a392"]
  destinations = [{
    type = "public"
    uri = "admin.acme.example/console"
  }, {
    type = "public"
    uri = "admin.acme-staging.example/console"
  }, {
    cidr = "10.40.0.0/24"
    hostname = "admin.internal"
    l4_protocol = "tcp"
    port_range = "8000-8010"
    type = "private"
    vnet_id = "d8c7b6a5-f4e3-4d2c-9b0a-f9e8d7c6b5a4"
  }]
  enable_binding_cookie = true
  http_only_cookie_attribute = true
  name = "Admin console"
  options_preflight_bypass = true
  path_cookie_attribute = true
  policies = [{
    id = "e9d8c7b6-a5f4-4e3d-8c1b-0a9f8e7d6c5b"
    precedence = 0
  }]
  same_site_cookie_attribute = "strict"
  scim_config = {
    idp_uid = "idp-uid"
    remote_uri = "https://scim.acme.example/v2"
    authentication = {
      password = "not-a-password"
      scheme = "httpbasic"
      user = "scim"
    }
    deactivate_on_delete = true
    enabled = true
    mappings = [{
      schema = "urn:ietf:params:scim:schemas:core:2.0:User"
      enabled = true
      filter = "userType eq \"Employee\""
      operations = {
        create = true
        delete = true
        update = true
      }
      strictness = "strict"
    }]
  }
  self_hosted_domains = ["admin.acme.example/console", "admin.acme-staging.example/console"]
  service_auth_401_redirect = true
  session_duration = "24h"
  skip_interstitial = true
  tags = ["platform"]
}
