package peercred

import "testing"

func TestWindowsCredClasses(t *testing.T) {
	const alice = "S-1-5-21-3623811015-3361044348-30300820-1013"
	const bob = "S-1-5-21-3623811015-3361044348-30300820-1014"
	if c := WindowsCred(SIDLocalSystem, 4, false); c.UID != 0 || c.SID != SIDLocalSystem || c.PID != 4 {
		t.Errorf("SYSTEM: %+v, want root", c)
	}
	if c := WindowsCred(alice, 100, true); c.UID != 0 {
		t.Errorf("an elevated administrator: %+v, want root", c)
	}
	a, b := WindowsCred(alice, 100, false), WindowsCred(bob, 101, false)
	if a.UID == 0 || a.UID == b.UID || a.UID < 1<<32 {
		t.Errorf("users: alice %d, bob %d; want distinct non-root uids above 2^32", a.UID, b.UID)
	}
	// Stable, and blind to the SID's case and spacing.
	if SIDUID(alice) != SIDUID(" s-1-5-21-3623811015-3361044348-30300820-1013") || SIDUID(alice) != a.UID {
		t.Error("SIDUID is not stable for one SID")
	}
}
