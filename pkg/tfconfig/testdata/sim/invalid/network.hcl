# want: 17:18: network.resolver "100.96.0.300" is not an IP address
# want: 18:18: network.address_pool "100.96.0.1/12" has host bits set; write "100.96.0.0/12"
# want: 20:10: record "wiki..acme" is not a DNS name
# want: 23:45: "10.0.0.x" is not an IP address
# want: 24:10: record git.acme.internal is defined twice
# want: 25:10: record git.acme.internal is defined twice
# want: 27:12: upstream "10.0.0.10" is not an address of the virtual network with a port
# want: 31:16: target "127.0.0.1" is not a host:port
# want: 32:16: protocol "sctp" is not "tcp" or "udp"
team = "acme"

idp {
  user "alice@example.com" { password = "alice-password" }
}

network {
  resolver     = "100.96.0.300"
  address_pool = "100.96.0.1/12"

  record "wiki..acme" {
    addresses = ["10.0.0.10"]
  }
  record "git.acme.internal" { addresses = ["10.0.0.x"] }
  record "git.acme.internal." { addresses = ["10.0.0.20"] }
  record "GIT.acme.internal" { addresses = ["10.0.0.21"] }

  upstream "10.0.0.10" {
    target = "127.0.0.1:9080"
  }
  upstream "10.0.0.20:80" {
    target   = "127.0.0.1"
    protocol = "sctp"
  }
}
