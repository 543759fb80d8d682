// Package session is the client-session domain shared by the agent and the
// edge simulator: the device registration, the IdP auth_time it carries and
// where it is stored, the expiry math of the session rules (S1, S4, S5, S8),
// the refresh-identity URL and the validator every URL passes before it is
// opened or published (SEC4), and the re-authentication broker with its
// expiry warnings (S16). It does no network I/O and reads time only through
// the values and clocks it is given.
package session
