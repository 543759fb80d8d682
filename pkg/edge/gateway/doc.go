// Package gateway is the simulated edge's Gateway: it implements the
// decision hooks of pkg/edge/wg, deciding every DNS query, new L4 flow and
// plain-HTTP request of a registered device with the Gateway policies of
// pkg/policy, including the client-session check (check_session).
//
// # Who and when
//
// A decision's identity is the device's registered user, with the groups
// and the IdP auth_time the device lookup returns at that moment (so a
// re-authentication counts from the next decision on). Session age is the
// edge clock's now minus auth_time (S1); the clock is read at each
// decision, never cached, because the admin API moves simulated time.
//
// # DNS (S6)
//
// DNS queries are decided by DNS policies only, which never look at the
// session, so names resolve while re-authentication is pending. A blocked
// name answers 0.0.0.0 (A) or :: (AAAA): what Gateway answers for a blocked
// domain when no block page is configured, and what wg.Block does. NXDOMAIN
// would make clients retry other resolvers and cache a negative answer
// under the SOA's TTL, which hides the cause.
//
// # L4 (S3, S4, S7)
//
// A new TCP connection or UDP flow is decided by the network (l4) policies
// once, when it starts; pkg/edge/wg never asks again for an established
// flow, so an expired session refuses new flows and leaves open ones alone
// (S7). A refused TCP flow is reset, a refused UDP flow gets ICMP port
// unreachable.
//
// net.sni.host needs the TLS ClientHello, which comes after the TCP
// handshake. The Gateway therefore decides a TCP flow at once unless a
// policy that reads net.sni.host comes before (or is) the policy that
// decides it without an SNI. Only then is the connection accepted and its
// first bytes read, for at most Options.PeekTimeout, to find the SNI (a
// server-speaks-first protocol such as SSH waits that long); a refusal
// after the peek closes the accepted connection instead of resetting it.
// Whether a policy reads net.sni.host is found by looking for the field's
// name in its traffic expression: a false positive only costs a peek. UDP
// flows (QUIC included) have no SNI here.
//
// # HTTP (S3)
//
// TCP flows that L4 allowed to a port of Options.HTTPPorts (80) are parsed
// as HTTP/1.1 when HTTP policies are enabled (or an Options.Requests hook
// is set): each request on the keep-alive connection is decided on its own
// against the HTTP policies with the current identity and clock, then
// forwarded over one upstream connection per flow, or answered with a 403
// block page. A block for session_expired says so and links to the team
// domain's refresh-identity URL.
//
// TLS is never intercepted. On ports of Options.TLSPorts (443) the HTTP
// policies see the SNI as http.request.host (and http.request.domains);
// the method, path and URI are empty, so policies on them do not match. A
// TLS flow an HTTP policy blocks is closed, since no block page can be
// shown without a certificate for the name. UDP flows (HTTP/3 over QUIC)
// are decided by the L4 policies only.
//
// # Signals and audit
//
// The first session_expired block per device, policy and auth_time calls
// Options.Signal once; later blocks of the same triple do not, and a
// re-authentication (a new auth_time) arms it again. Every decision goes to
// Options.Audit. Both callbacks run in one delivery goroutine the Gateway
// owns, in order, never on the packet path; a full queue drops audit
// records (counted by DroppedAudit) but waits for signals.
//
// # Edge services (S15)
//
// The team domain and the IdP are wg.Network services: pkg/edge/wg splices
// flows and answers queries for them without asking the hooks, so they stay
// reachable whatever the policies say. The Gateway checks again (cheaply)
// and lets such flows pass should one reach it.
//
// # Access
//
// Options.Requests is the seam for Access (pkg/edge/accessgate): a hook
// that sees every plain-HTTP request Gateway allowed and may answer it (a
// login redirect, a denial) or add headers (the device's identity) before
// it is forwarded. With a hook set, every port-80 flow is read as HTTP.
package gateway
