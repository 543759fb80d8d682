// Package wg is the simulated edge's WireGuard server: a wireguard-go device
// whose packets land in a gVisor network stack that accepts TCP and UDP flows
// to any destination, maps each flow to the WireGuard peer it came from (and
// so to a registered device), asks a FlowHook once per new flow, and then
// splices the flow to a loopback upstream from the virtual network map,
// hands it to the hook's handler, or refuses it.
//
// # Flows and the decision hook
//
// A flow is a TCP connection or a UDP 5-tuple that has been quiet for less
// than Limits.UDPIdleTimeout. The FlowHook sees each flow exactly once, when
// it starts: a TCP SYN or the first datagram of a UDP flow. Established flows
// are never looked at again, so a policy that starts refusing (an expired
// session, rule S7) stops new flows only. Refused TCP flows get a RST;
// refused UDP flows get an ICMP port unreachable (remembered for the idle
// timeout, so the hook is not asked again for the same 5-tuple).
//
// The hook runs in its own goroutine for TCP. For UDP it runs on the packet
// path of the peer that sent the datagram, so that a refusal can be answered
// with ICMP: it must be quick (an in-memory decision). The hook also sees
// flows to destinations without an upstream (Flow.Upstream is ""), so that
// it can log them or Handle them; Forward refuses those.
//
// A Handle verdict gives the Gateway the accepted TCP connection and a dialer
// for the upstream, to read HTTP requests on the connection and decide each.
//
// # Peers and devices
//
// Each flow belongs to the peer entry it started under. RemovePeer ends the
// entry's flows; so does an AddPeer that changes a known key's device ID or
// addresses (a re-registration), since those flows were decided for an
// identity that is gone. AddPeer with the same identity changes nothing.
//
// Every bound on flows, pending TCP connections and DNS work has a
// per-device share beside its total (Limits.MaxFlowsPerDevice and the
// like), so that one device at its limit cannot starve the others.
//
// # Memory
//
// Limits bound what the edge holds: at most MaxFlows flows, each with two
// copy buffers (32 KiB for TCP, 64 KiB for UDP) and, for TCP, the stack's
// send and receive buffers (each up to TCPBufferSize, 256 KiB by default);
// MaxPendingTCP connection attempts; QueueLen packets waiting for
// WireGuard, which with segmentation offload reference the send buffers
// rather than copy them.
//
// wireguard-go's buffer pools have no bound of their own on Linux and hold
// 64 KiB for every packet in flight, however small: what bounds them is the
// packets in flight, which TCPBufferSize bounds per flow (256 KiB is ~200
// packets at a 1280-byte MTU, so up to ~13 MiB of pooled buffers per busy
// flow). TCPBufferSize is 256 KiB because the tunnel is no faster with more
// on loopback (BenchmarkEdgeTCPBuffer in test/integration, medians of five
// interleaved runs: 191, 187, 163 and 155 MB/s at 128 KiB, 256 KiB, 1 MiB
// and 4 MiB). The stack and its device are internal/gvisorstack's.
//
// # DNS
//
// A DNS server (UDP and TCP port 53) listens inside the stack at
// Network.Resolver. It answers A and AAAA queries from Network.Records
// (NXDOMAIN for unknown names) after asking the DNSHook, which may block a
// name (rule S6: DNS decisions never look at the session).
//
// # Edge services (S15)
//
// Network.Services are the edge's own listeners, the team domain and the
// IdP, made reachable through the tunnel under the names their URLs use
// (acme.localhost, idp.localhost): the DNS answers those names with the
// service's virtual address, and flows to it are spliced to the listener
// without asking either hook, so that re-authentication works while every
// other flow is refused. ServiceForURL builds one from the team domain or
// IdP URLs; by default they live on the resolver address at the listener's
// port (http://acme.localhost:8781 → 100.96.0.1:8781 → 127.0.0.1:8781).
//
// Server.FlowByUpstream tells a loopback listener which device a proxied
// connection came from, given the connection's remote address.
package wg
