# want warning: 23:3: device_posture is not simulated: every device passes it
# want warning: 94:82: list $5c4b3a29-1807-4f6e-8d5c-4b3a29180716 is not declared in testdata/realworld (a list made in the
# source: cloudflare/cf-terraforming,
#   testdata/terraform/v5/cloudflare_zero_trust_gateway_policy/test.tf,
#   commit 39ee947ef07cadc1aaa900dc9a3ab050db9961d6
# construct: a cf-terraforming export of an HTTP rule that sets almost
#   every rule setting (headers, browser isolation, DNS resolvers, egress,
#   notification, quarantine), an expiration, a
#   schedule, precedence 0, action "on", device posture, an identity on
#   group names and a traffic on a list referenced by its Cloudflare ID.
#   The export also writes expiration.expired, which is read-only; that
#   variant is in testdata/invalid/export_read_only.tf. The export's
#   check_session on this action "on" policy is left out: the simulator
#   refuses check_session on anything but allow (S5), and this file must
#   load.
# provider: accepts; the simulator loads it with warnings for what it does
#   not evaluate.
resource "cloudflare_zero_trust_gateway_policy" "exported_http_rule" {
  account_id = "3a1f0c9e8d7b6a5f4e3d2c1b0a9f8e7d"
  action = "on"
  name = "inspect finance uploads"
  description = "Everything an exported HTTP rule may carry."
  device_posture = "any(device_posture.checks.passed[*] in {\"0b7e6c5d-4a39-4f28-9e17-6d5c4b3a2f10\"})"
  enabled = true
  expiration = {
    expires_at = "2031-06-30T17:00:00Z"
    duration = 30
  }
  filters = ["http"]
  identity = "any(identity.groups.name[*] in {\"finance\"})"
  precedence = 0
  rule_settings = {
    add_headers = {
      x-team = "finance"
    }
    allow_child_bypass = false
    audit_ssh = {
      command_logging = false
    }
    biso_admin_controls = {
      copy = "enabled"
      dcp = false
      download = "enabled"
      keyboard = "enabled"
      paste = "enabled"
      printing = "enabled"
      upload = "enabled"
      version = "v1"
    }
    block_page_enabled = true
    block_reason = "Uploads from finance are inspected"
    bypass_parent_rule = false
    dns_resolvers = {
      ipv4 = [{
        ip = "10.53.0.2"
        port = 5053
        route_through_private_network = true
        vnet_id = "6e5d4c3b-2a19-4f08-8e7d-6c5b4a392817"
      }]
    }
    egress = {
      ipv4 = "192.0.2.20"
      ipv4_fallback = "192.0.2.21"
      ipv6 = "2001:DB8:1::/64"
    }
    ignore_cname_category_matches = true
    insecure_disable_dnssec_validation = false
    ip_categories = true
    notification_settings = {
      enabled = true
      msg = "Your upload is inspected"
      support_url = "https://help.acme.example"
    }
    override_ips = ["192.0.2.30"]
    payload_log = {
      enabled = true
    }
    quarantine = {
      file_types = ["exe"]
    }
    resolve_dns_internally = {
      fallback = "none"
      view_id = "f0e1d2c3"
    }
    untrusted_cert = {
      action = "pass_through"
    }
  }
  schedule = {
    mon = "08:00-12:30,13:30-17:00"
    fri = "08:00-12:00"
    time_zone = "Europe/Paris"
  }
  traffic = "http.request.uri matches \".*/uploads/.*\" and http.request.host in $5c4b3a29-1807-4f6e-8d5c-4b3a29180716"
}
