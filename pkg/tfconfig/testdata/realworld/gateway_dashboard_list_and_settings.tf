# want warning: 20:42: list $7c1e9a52-3b4d-4f60-9a8e-2d5c6b7a8f90 is not declared
# want warning: 15:3: device_posture is not simulated
# source: cloudflare/terraform-provider-cloudflare,
#   examples/resources/cloudflare_zero_trust_gateway_policy/resource.tf,
#   commit a2efdc5786ae9726d56928dbfe91933bd92404ca (v5.22.0)
# construct: a policy that references a list by its literal Cloudflare ID
#   (a list made in the dashboard) and sets rule settings, an expiration and
#   device posture that the simulator does not evaluate.
# provider: accepts; the simulator loads it, the list empty, with warnings.
resource "cloudflare_zero_trust_gateway_policy" "finance_hosts" {
  account_id     = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  name           = "Finance hosts"
  action         = "allow"
  description    = "Allow finance to reach its hosts."
  device_posture = "any(device_posture.checks.passed[*] in {\"4b1e8c2a-0d9f-4e3b-a6c7-5f2d1e0b9a83\"})"
  enabled        = true
  expiration     = { expires_at = "2031-06-01T00:00:00Z", duration = 30 }
  filters        = ["http"]
  precedence     = 40
  traffic        = "http.request.host in $7c1e9a52-3b4d-4f60-9a8e-2d5c6b7a8f90"
  identity       = "any(identity.groups.name[*] in {\"finance\"})"
  rule_settings = {
    add_headers        = { X-Team = ["finance"] }
    allow_child_bypass = false
    audit_ssh          = { command_logging = false }
    block_page_enabled = false
    check_session      = { enforce = true, duration = "8h" }
  }
}
