// Package tunnel is the agent side of the WireGuard tunnel: a wireguard-go
// device configured from the registration's tunnel block, and where its
// packets meet the host.
//
// Two modes:
//
//   - ModeProxy (the default, no root): the tunnel ends in a userspace
//     gVisor network stack (internal/gvisorstack), and a local proxy on one loopback address
//     (127.0.0.1:40000 by default, the WARP client's proxy port) speaks both
//     SOCKS5 (RFC 1928: CONNECT and UDP ASSOCIATE, IPv4, IPv6 and domain
//     names) and HTTP (CONNECT and absolute-URI forwarding of plain http://
//     requests, with keep-alive), told apart by the first byte a client sends.
//     Domain names are resolved against the tunnel's DNS servers over that
//     stack (miekg/dns: A and AAAA for the families the device has
//     addresses in, TCP when an answer is truncated, each server tried
//     twice), never with the host's resolver; a lookup ends when its
//     context does.
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
// # Memory
//
// wireguard-go's buffer pools have no bound of their own on Linux: each
// packet in flight holds a 64 KiB buffer however small it is (~50 times a
// 1280-byte packet), and its read and receive loops keep 384 of them (24 MiB)
// whatever the load. Three things bound the rest in proxy mode:
//
//   - The packets in flight, which each TCP connection's window bounds: the
//     stack caps send and receive buffers at 256 KiB per connection
//     (~200 packets at the default MTU), enough for full speed on loopback.
//   - The garbage collector, which alone returns pooled buffers: with the
//     runtime's default pacing the heap grows to twice the live pools before
//     a collection, so New sets a soft memory limit (Options.MemoryLimit,
//     DefaultMemoryLimit, restored by the last Close).
//   - Segmentation offload: the stack hands WireGuard 64 KiB TCP packets cut
//     into MTU-sized ones directly in wireguard-go's buffers, and merges
//     the segments WireGuard decrypts before TCP sees them, so neither side
//     queues per-packet copies.
//
// Measured (test/integration TestAgentPeakRSS, the agent in a process of its
// own, 30 seconds of one bulk TCP stream each way through the proxy): peak
// RSS 40.5 MB with the default limit, 93 MB without one, at the same
// throughput (~200 MB/s up, ~100 MB/s down). Many busy connections at once add up to ~13 MiB of pooled buffers
// each; the soft limit then makes the collector work harder rather than
// holding the bound.
//
// The private key is a secret.Value; its hex form, which the UAPI text
// carries, is registered with the scrubber, and neither form is ever logged.
package tunnel
