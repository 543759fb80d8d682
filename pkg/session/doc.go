// Package session is the client-session domain shared by the agent and the
// edge simulator: the device registration and the IdP auth_time it carries,
// the expiry math of the session rules (S1, S4, S5, S8), the refresh-identity
// URL and the validator every URL passes before it is opened or published
// (SEC4, internal/browseurl), and the re-authentication broker with its
// expiry warnings (S16). It is pure: it stores nothing (agentd keeps the
// registration in the keyring, pkg/agent's regStore), does no I/O and reads
// time only through the values and clocks it is given; TestSessionDomainDoesNoIO
// keeps it so.
package session
