# want: 8:17: listen.api "localhost:8780" is not an IP address and port
# want: 10:17: listen.idp uses 127.0.0.1:8781, like listen.team_domain
# want: 11:17: listen.wireguard "127.0.0.1:0" is not an IP address and port
# want: 18:1: a second listen block
team = "acme"

listen {
  api         = "localhost:8780"
  team_domain = "127.0.0.1:8781"
  idp         = "127.0.0.1:8781"
  wireguard   = "127.0.0.1:0"
}

idp {
  user "alice@example.com" { password = "alice-password" }
}

listen {
  api = "127.0.0.1:9999"
}
