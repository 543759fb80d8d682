# Values that are wrong only where main.tf uses them.

session = "1d"
traffic = "net.dst.ipx == 10.0.0.1"
wiki_ip = "10.0.0.300"
warp    = "300s"
action  = "alow"
