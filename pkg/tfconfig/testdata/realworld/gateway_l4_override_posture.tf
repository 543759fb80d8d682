# want warning: 20:3: device_posture is not simulated: every device passes it
# source: cloudflare/terraform-provider-cloudflare,
#   internal/services/zero_trust_gateway_policy/testdata/teamsruleconfigl4.tf,
#   commit 5d86153d42ec76cde156eb802f00dbdbc1671ad9
# construct: an l4_override network policy whose traffic uses sets of
#   ports separated by spaces and not(...) with no space, a device posture
#   expression, and an l4override object mixing a quoted JSON-style key
#   with a bare one.
# provider: accepts; the simulator loads it and warns that device posture
#   is not simulated.
resource "cloudflare_zero_trust_gateway_policy" "pin_web_to_proxy" {
  name = "Send internal web traffic to the proxy"
  account_id = "5f2a0c6d9b7e4c1a8d3f6b0e2a9c7d41"
  description = "override the destination of internal web ports"
  enabled = true
  precedence = 310
  action = "l4_override"
  filters = ["l4"]
  traffic = "net.dst.ip in {172.16.0.0/12} and net.dst.port in {80 443 8443} and not(net.dst.ip in {172.31.0.0/16})"
  device_posture = "any(device_posture.checks.passed[*] == \"8d0f5e2a-1b3c-4d5e-9f60-7a8b9c0d1e2f\")"
  rule_settings = {
    l4override ={ "ip": "172.16.0.10", port: 3128}
  }
}
