// Package tunnel is the agent side of the WireGuard tunnel: a wireguard-go
// device configured from the registration's tunnel block, and where its
// packets meet the host.
//
// Two modes:
//
//   - ModeProxy (the default, no root): the tunnel ends in wireguard-go's
//     userspace netstack, and a local proxy on one loopback address
//     (127.0.0.1:40000 by default, the WARP client's proxy port) speaks both
//     SOCKS5 (RFC 1928: CONNECT and UDP ASSOCIATE, IPv4, IPv6 and domain
//     names) and HTTP (CONNECT and absolute-URI forwarding of plain http://
//     requests, with keep-alive), told apart by the first byte a client sends.
//     Domain names are resolved by the netstack's resolver against the
//     tunnel's DNS servers, never the host's resolver.
//   - ModeTUN (Linux, root): a kernel TUN interface (zt0 by default) with the
//     tunnel's addresses and a route for every allowed IP. Pointing the host's
//     DNS at the tunnel's DNS servers is left to a later issue; until then
//     names resolve with the host's resolver in this mode. Options.NetNS moves
//     the interface into another network namespace while the WireGuard UDP
//     socket stays in the caller's (the WireGuard "netns" pattern).
//
// The device is configured through wireguard-go's UAPI text (IpcSet), the
// same protocol wg(8) speaks, so what the agent sets can be compared line by
// line with a standard peer. Reconfigure applies a new endpoint or rotated
// keys to the running device; Close stops every goroutine the tunnel started.
//
// The private key is a secret.Value; its hex form, which the UAPI text
// carries, is registered with the scrubber, and neither form is ever logged.
package tunnel
