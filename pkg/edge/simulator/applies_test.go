package simulator

import (
	"testing"
)

// sessionApplies returns applies_to_user of each policy in the device's
// session view, by name.
func sessionApplies(t *testing.T, a *testAgent) map[string]bool {
	t.Helper()
	v, err := a.api().Session(t.Context(), a.reg.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]bool)
	for _, g := range v.Gateway {
		if g.AppliesToUser == nil {
			t.Fatalf("session view entry %q has no applies_to_user: %+v", g.Name, v)
		}
		m[g.Name] = *g.AppliesToUser
	}
	return m
}

// The session view says which limits apply to the device's user. In
// examples/acme the wiki policy matches identity.email ".*@example.com"
// (alice and bob) and the Git policy the engineering group (alice only):
// bob's session is never limited by Git's hour.
func TestSessionViewAppliesToUser(t *testing.T) {
	tc := newTestConfig(t)
	s := startSim(t, tc.options(stateDir(t)))
	al := newAgent(t, s, "alice-laptop")
	al.enroll(alice)
	bo := newAgent(t, s, "bob-laptop")
	bo.enroll(bob)

	const wiki, git = "Company Wiki Network policy", "Git over HTTP"
	if got := sessionApplies(t, al); len(got) != 2 || !got[wiki] || !got[git] {
		t.Fatalf("alice: %v; want both policies to apply", got)
	}
	if got := sessionApplies(t, bo); len(got) != 2 || !got[wiki] || got[git] {
		t.Fatalf("bob: %v; want the wiki policy to apply and Git's not", got)
	}

	// Without an identity condition a policy applies to everyone, and a
	// reload is seen at once.
	tc.editTF(t, `identity\s*=\s*"identity\.groups\.id == \\"[0-9a-f-]+\\""`, ``)
	if res := s.Reload(t.Context()); !res.Reloaded {
		t.Fatalf("reload: %+v", res)
	}
	if got := sessionApplies(t, bo); !got[wiki] || !got[git] {
		t.Fatalf("bob after the Git policy lost its identity condition: %v; want both to apply", got)
	}
}
