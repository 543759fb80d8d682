# want info: 9:20: config.prompt "Select_Account" is read as "select_account": the provider accepts it in any case
# The prompt enum is OneOfCaseInsensitive in provider v5.22, like the others.
resource "cloudflare_zero_trust_access_identity_provider" "entra" {
  name = "Entra ID"
  type = "azureAD"
  config = {
    client_id    = "c"
    directory_id = "d"
    prompt       = "Select_Account"
  }
}
resource "cloudflare_zero_trust_gateway_policy" "p" {
  name       = "P"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["l4"]
}
