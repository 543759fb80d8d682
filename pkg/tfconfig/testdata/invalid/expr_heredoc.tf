# want: 11:7: identity expression: ... identity.nope
resource "cloudflare_zero_trust_gateway_policy" "heredoc" {
  name       = "An identity expression in a heredoc"
  enabled    = true
  precedence = 1
  action     = "allow"
  filters    = ["http"]
  traffic    = "http.request.host == \"git.acme.internal\""
  identity   = <<-EOT
    identity.email == "alice@example.com" or
      identity.nope == "b"
  EOT
}
