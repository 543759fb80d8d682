# want: 2:8: team "Acme Corp" must be a DNS label
team = "Acme Corp"

idp {
  user "alice@example.com" {
    password = "alice-password"
  }
}
