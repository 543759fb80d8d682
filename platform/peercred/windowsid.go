package peercred

import (
	"hash/fnv"
	"strings"
)

// The well-known SIDs that decide a Windows caller's class.
const (
	// SIDLocalSystem is NT AUTHORITY\SYSTEM, what services run as.
	SIDLocalSystem = "S-1-5-18"
	// SIDAdministrators is the BUILTIN\Administrators group.
	SIDAdministrators = "S-1-5-32-544"
)

// WindowsCred returns the identity of a Windows caller for the permission
// table, which knows uids: SYSTEM, and a user whose token has the
// Administrators group enabled (an elevated administrator: UAC's filtered
// token has it for deny only), are root (uid 0), as Tailscale's Windows
// IPC treats them; every other user is SIDUID(sid), so that the user who
// registered the device is its operator by their SID.
func WindowsCred(sid string, pid int, adminEnabled bool) Cred {
	c := Cred{UID: SIDUID(sid), GID: -1, PID: pid, SID: sid}
	if sid == SIDLocalSystem || adminEnabled {
		c.UID = 0
	}
	return c
}

// SIDUID returns the stand-in uid of a Windows user SID: a 62-bit FNV-1a
// digest of the SID's canonical (upper-case) text, above every unix uid
// range, never 0 or negative. Two SIDs sharing one is as likely as a
// 62-bit collision; it is stable across restarts, so the operator
// recorded with the registration stays theirs.
func SIDUID(sid string) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(strings.ToUpper(strings.TrimSpace(sid))))
	const low = 1 << 32 // above any 32-bit uid
	return low + int(h.Sum64()&(1<<62-1))
}
