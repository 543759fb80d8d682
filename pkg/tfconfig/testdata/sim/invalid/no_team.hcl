# want: 1:1: the simulator file has no team
idp {
  user "alice@example.com" {
    password = "alice-password"
  }
}
