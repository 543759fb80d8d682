# Acme's Cloudflare One configuration, written for the Cloudflare Terraform
# provider v5. ztagent's edge simulator (edged) loads it as it is; run
#   edged validate --terraform examples/acme --sim examples/acme/simulator.hcl
# to see what it enforces.

terraform {
  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5"
    }
  }
}

provider "cloudflare" {}

variable "cloudflare_account_id" {
  description = "The Cloudflare account that holds the Zero Trust organization."
  type        = string
  default     = "0123456789abcdef0123456789abcdef"
}

variable "entra_client_secret" {
  description = "Client secret of the Entra ID app registration (the simulator's built-in IdP ignores it)."
  type        = string
  sensitive   = true
  default     = "simulated-entra-client-secret"
}

# --- Gateway --------------------------------------------------------------

# The company wiki's addresses, referenced by the network policy below.
resource "cloudflare_zero_trust_list" "wiki_IPs" {
  account_id  = var.cloudflare_account_id
  name        = "Company wiki IPs"
  description = "Managed by Terraform - addresses of wiki.acme.internal."
  type        = "IP"
  items = [
    { value = "10.0.0.10", description = "wiki.acme.internal" },
  ]
}

# The policy from Cloudflare's "Client sessions" page, verbatim: employees
# reach the wiki for 1h30m after their last IdP login.
resource "cloudflare_zero_trust_gateway_policy" "network_allow_wiki_IPs" {
  name        = "Company Wiki Network policy"
  enabled     = true
  account_id  = var.cloudflare_account_id
  description = "Managed by Terraform - Allow employees to access company wiki IPs."
  precedence  = 103
  action      = "allow"
  filters     = ["l4"]
  traffic     = "net.dst.ip in ${"$"}${cloudflare_zero_trust_list.wiki_IPs.id}"
  identity    = "identity.email matches \".*@example.com\""
  rule_settings = {
    check_session = {
      enforce = true
      duration = "1h30m0s"
    }
  }
}

# Git over HTTP for engineers, re-authenticating every hour. Entra ID
# names groups by object ID, so the policy matches the engineering group's
# ID, as Cloudflare prescribes for Entra (the simulator file gives the
# group that ID).
resource "cloudflare_zero_trust_gateway_policy" "http_allow_git" {
  name        = "Git over HTTP"
  enabled     = true
  account_id  = var.cloudflare_account_id
  description = "Managed by Terraform - Allow engineers to use the git server."
  precedence  = 200
  action      = "allow"
  filters     = ["http"]
  traffic     = "http.request.host == \"git.acme.internal\""
  identity    = "identity.groups.id == \"5b2c7e1a-4d3f-4a8e-9c6b-2f1e0d9a8c7b\""
  rule_settings = {
    check_session = {
      enforce  = true
      duration = "1h"
    }
  }
}

# DNS policies never look at the session: this one keeps blocking a
# tracker while re-authentication is pending.
resource "cloudflare_zero_trust_gateway_policy" "dns_block_tracker" {
  name        = "Block tracker"
  enabled     = true
  account_id  = var.cloudflare_account_id
  description = "Managed by Terraform - Block a known tracking domain."
  precedence  = 10
  action      = "block"
  filters     = ["dns"]
  traffic     = "any(dns.domains[*] == \"tracker.example.net\")"
  rule_settings = {
    block_reason = "Tracking domains are blocked by Acme IT."
  }
}

# --- Access ---------------------------------------------------------------

# Entra ID, forcing credentials on every re-authentication. The
# simulator's built-in IdP plays it (simulator.hcl: idp.plays).
resource "cloudflare_zero_trust_access_identity_provider" "entra_id" {
  account_id = var.cloudflare_account_id
  name       = "Entra ID"
  type       = "azureAD"
  config = {
    client_id      = "00000000-0000-0000-0000-00000000a11c"
    client_secret  = var.entra_client_secret
    directory_id   = "00000000-0000-0000-0000-0000000000ac"
    prompt         = "login"
    support_groups = true
  }
}

resource "cloudflare_zero_trust_access_policy" "employees" {
  account_id = var.cloudflare_account_id
  name       = "Employees"
  decision   = "allow"
  include = [
    { email_domain = { domain = "example.com" } },
  ]
}

# Servers enroll unattended with this service token: their mdm.xml gives
# its client ID and secret (auth_client_id, auth_client_secret), which
# edged mints into <state-dir>/service-tokens.json. Such a device has no
# IdP user (non_identity@acme.cloudflareaccess.com), so identity-based
# policies never match it.
resource "cloudflare_zero_trust_access_service_token" "servers" {
  account_id = var.cloudflare_account_id
  name       = "Servers"
  duration   = "8760h"
}

# Service Auth: the token, not a person, is what this policy admits.
resource "cloudflare_zero_trust_access_policy" "servers" {
  account_id = var.cloudflare_account_id
  name       = "Servers"
  decision   = "non_identity"
  include = [
    { service_token = { token_id = cloudflare_zero_trust_access_service_token.servers.id } },
  ]
}

# The wiki accepts the device's client session instead of an IdP login
# (device identity) for the organization's warp_auth_session_duration.
resource "cloudflare_zero_trust_access_application" "wiki" {
  account_id                  = var.cloudflare_account_id
  name                        = "Company wiki"
  type                        = "self_hosted"
  domain                      = "wiki.acme.internal"
  session_duration            = "24h"
  allow_authenticate_via_warp = true
  policies = [
    { id = cloudflare_zero_trust_access_policy.employees.id, precedence = 1 },
  ]
}

# The git web UI binds its Access cookie to the browser session, which turns
# device identity off for it even though the organization allows it.
resource "cloudflare_zero_trust_access_application" "git" {
  account_id            = var.cloudflare_account_id
  name                  = "Git web UI"
  type                  = "self_hosted"
  domain                = "git.acme.internal"
  session_duration      = "8h"
  enable_binding_cookie = true
  policies = [
    { id = cloudflare_zero_trust_access_policy.employees.id, precedence = 1 },
  ]
}

# Device enrollment permissions: who may register a device, and with which
# identity provider. Employees may; mallory@contractor.test signs in but is
# refused. Servers enroll with the service token.
resource "cloudflare_zero_trust_access_application" "device_enrollment" {
  account_id                = var.cloudflare_account_id
  name                      = "Device enrollment"
  type                      = "warp"
  allowed_idps              = [cloudflare_zero_trust_access_identity_provider.entra_id.id]
  auto_redirect_to_identity = true
  app_launcher_visible      = false
  policies = [
    { id = cloudflare_zero_trust_access_policy.employees.id, precedence = 1 },
    { id = cloudflare_zero_trust_access_policy.servers.id, precedence = 2 },
  ]
}

resource "cloudflare_zero_trust_organization" "acme" {
  account_id                  = var.cloudflare_account_id
  name                        = "Acme"
  auth_domain                 = "acme.cloudflareaccess.com"
  session_duration            = "24h"
  allow_authenticate_via_warp = true
  warp_auth_session_duration  = "12h"
}

# --- Devices --------------------------------------------------------------

resource "cloudflare_zero_trust_device_default_profile" "default" {
  account_id       = var.cloudflare_account_id
  allowed_to_leave = true
  service_mode_v2 = {
    mode = "proxy"
    port = 40000
  }
}
