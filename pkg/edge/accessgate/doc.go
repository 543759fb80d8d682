// Package accessgate is the simulated edge's Access gate for self-hosted
// Access applications reached through the tunnel: a gateway.RequestHook
// that sees every plain-HTTP request the Gateway allowed and, when its host
// is an application's domain, authenticates it, evaluates the
// application's Access policies and either forwards it with the identity
// headers an Access-protected origin expects or answers it itself (a login
// redirect, a denial).
//
// # Who the request is (S9, S10)
//
// When device identity applies to the application (tfconfig's
// Config.DeviceIdentity: allow_authenticate_via_warp from the application
// or the organization, binding cookie off, allow/deny policies only, a
// warp_auth_session_duration) and the device's session age (edge now −
// auth_time, S1) is at most warp_auth_session_duration, the request is the
// device's registered user's: no login (S9). Otherwise the application's
// own session cookie, CF_Authorization, authenticates it; without one the
// browser is redirected (302) to the team domain's
// /cdn-cgi/access/login/{app}, which signs the user in with the IdP and
// hands the application a token at /cdn-cgi/access/authorized, where the
// gate verifies it (access.TeamDomain.VerifyAppToken) and sets the cookie.
// When the device session is what expired, the device is signalled once per
// application and auth_time (Options.OnDeviceSessionExpired, S10); the
// Access login itself is an IdP authentication, which resets the device
// session (S2).
//
// # Policies
//
// Bypass policies are evaluated first, then non_identity (service auth)
// ones, both without an identity, then allow and deny (block) policies in
// precedence order; the first that matches decides, and none matching
// denies, as in Access. A policy matches when any include rule, every
// require rule and no exclude rule matches. Simulated selectors: email,
// email_domain, everyone, and group, azure_ad, okta and gsuite, all of
// which match the user's IdP group names: the simulator loads no Access
// groups (cloudflare_zero_trust_access_group), so a group selector's id is
// taken as the name of an IdP group. Other selectors never match, as the
// configuration loader warns; in an exclude list that means they exclude
// no one. Service tokens do not exist here, so a non_identity policy can
// only match through everyone.
//
// # What the origin sees
//
// Client-supplied Cf-Access-* headers are removed from every request to an
// application, so that a device cannot claim an identity. An authenticated
// request gets Cf-Access-Authenticated-User-Email and
// Cf-Access-Jwt-Assertion, an ES256 JWT signed with the gate's key
// (PublicKey, JWKS) whose aud is the application's domain, valid until the
// session that authenticated it ends. Requests a bypass or non_identity
// policy lets through carry neither.
package accessgate
