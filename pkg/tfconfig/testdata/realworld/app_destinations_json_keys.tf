# want warning: 17:5: private destinations are not simulated: the simulator serves an application at its public hostnames only
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_access_application/testdata/accessapplicationconfigwithdestinations.tf,
#   commit b176f7c726eb55d5ffd9e33ced29683b5d4617b1
# construct: destinations written with JSON-style quoted keys and colons,
#   a private destination whose keys are separated by newlines only, and a
#   public one given by uri alone (its type defaults to public).
# provider: accepts; the simulator serves the public hostname and warns
#   that private destinations are not simulated.
resource "cloudflare_zero_trust_access_application" "mixed" {
  account_id                = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name                      = "Mixed destinations"
  type                      = "self_hosted"
  session_duration          = "24h"
  auto_redirect_to_identity = false
  destinations = [
    {
      "type" : "private",
      "hostname" : "build.corp.private"
      "port_range": "8443"
    },
    {
      "uri" : "build.acme.example",
    }
  ]
}
