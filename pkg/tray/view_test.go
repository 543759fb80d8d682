package tray

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// allowAll is the operator's permissions: every action allowed.
func allowAll() ipcproto.Permissions {
	p := ipcproto.Permissions{UID: 1000, Operator: true}
	for _, c := range commands {
		p.Actions = append(p.Actions, ipcproto.Permission{Command: c, Allowed: true})
	}
	return p
}

func registered(state ipcproto.State) ipcproto.Status {
	return ipcproto.Status{State: state, TeamDomain: "https://acme.example",
		Registration: &ipcproto.Registration{User: "alice@example.com", Team: "acme", EnrolledVia: "browser"},
		Session:      &ipcproto.SessionClock{AuthTime: t0, ServerTime: t0}}
}

func TestRenderEveryState(t *testing.T) {
	cases := []struct {
		in        Input
		cond      Condition
		icon      Icon
		stateLine string
		shown     []Action
	}{
		{Input{}, DaemonDown, IconDaemonDown, "agentd is not running: waiting for it", []Action{ActionQuit}},
		{Input{Up: true, Status: ipcproto.Status{State: ipcproto.StateUnregistered}, Permissions: allowAll()},
			Unregistered, IconDisconnected, "Not registered", []Action{ActionRegister, ActionQuit}},
		{Input{Up: true, Status: registered(ipcproto.StateConnected), Permissions: allowAll()},
			Connected, IconConnected, "Connected as alice@example.com (team acme)",
			[]Action{ActionDisconnect, ActionReauth, ActionLogout, ActionQuit}},
		{Input{Up: true, Status: registered(ipcproto.StateConnecting), Permissions: allowAll()},
			Connecting, IconConnecting, "Connecting as alice@example.com (team acme)…",
			[]Action{ActionDisconnect, ActionReauth, ActionLogout, ActionQuit}},
		{Input{Up: true, Status: registered(ipcproto.StateDisconnected), Permissions: allowAll()},
			Disconnected, IconDisconnected, "Disconnected as alice@example.com (team acme)",
			[]Action{ActionConnect, ActionReauth, ActionLogout, ActionQuit}},
		{Input{Up: true, Status: registered(ipcproto.StateReauthRequired), Permissions: allowAll()},
			ReauthRequired, IconAttention, "Re-authentication required as alice@example.com (team acme)",
			[]Action{ActionDisconnect, ActionReauth, ActionLogout, ActionQuit}},
		{Input{Up: true, Status: ipcproto.Status{State: ipcproto.StateRevoked}, Permissions: allowAll()},
			Revoked, IconRevoked, "This device was revoked by an administrator", []Action{ActionRegister, ActionQuit}},
		{Input{Up: true, Status: ipcproto.Status{State: ipcproto.StateKeyringUnavailable, Message: "locked"}},
			KeyringUnavailable, IconAttention, "The keyring is not available", []Action{ActionQuit}},
	}
	icons := map[Icon]bool{}
	for _, c := range cases {
		v := Render(c.in)
		if v.Condition != c.cond || v.Icon != c.icon || v.StateLine != c.stateLine || !slices.Equal(v.Shown, c.shown) {
			t.Errorf("Render(%s) = %+v, want %s %s %q %v", c.in.Status.State, v, c.cond, c.icon, c.stateLine, c.shown)
		}
		if !strings.HasPrefix(v.Tooltip, "ztagent: ") {
			t.Errorf("tooltip %q", v.Tooltip)
		}
		icons[v.Icon] = true
	}
	if len(icons) != len(Icons) {
		t.Errorf("the states use %d of the %d icons", len(icons), len(Icons))
	}
}

// The menu offers only what agentd says the user may do: another user of
// the computer sees the state and sessions but no switch.
func TestRenderOffersOnlyPermittedActions(t *testing.T) {
	st := registered(ipcproto.StateConnected)
	v := Render(Input{Up: true, Status: st, Permissions: ipcproto.Permissions{UID: 1001}})
	if !slices.Equal(v.Shown, []Action{ActionQuit}) {
		t.Errorf("no permissions: %v", v.Shown)
	}
	locked := allowAll()
	for i := range locked.Actions {
		if locked.Actions[i].Command == "agentctl disconnect" {
			locked.Actions[i].Allowed = false
		}
	}
	v = Render(Input{Up: true, Status: st, Permissions: locked})
	if v.Offers(ActionDisconnect) || !v.Offers(ActionReauth) {
		t.Errorf("a locked switch: %v", v.Shown)
	}
	// A device enrolled with a service token has no user to sign in.
	st.Registration.EnrolledVia, st.Registration.ServiceToken = "service_token", "Servers"
	v = Render(Input{Up: true, Status: st, Permissions: allowAll()})
	if v.Offers(ActionReauth) || !strings.Contains(v.StateLine, "service token Servers") {
		t.Errorf("a service-token device: %+v", v)
	}
}

func TestRenderSessionLinesOnTheEdgesClock(t *testing.T) {
	no := false
	sess := &ipcproto.Session{ServerTime: t0, Gateway: []ipcproto.PolicyExpiry{
		{Name: "Git over HTTP", ExpiresAt: t0.Add(3*time.Hour + 5*time.Minute)},
		{Name: "Company wiki", ExpiresAt: t0.Add(42 * time.Minute)},
		{Name: "Old", ExpiresAt: t0.Add(-time.Minute), Expired: true},
		{Name: "Contractors only", ExpiresAt: t0.Add(time.Minute), AppliesToUser: &no},
		{Name: "Servers", NoIdPSession: true},
	}, Access: &ipcproto.AccessExpiry{ExpiresAt: t0.Add(49 * time.Hour)}}
	v := Render(Input{Up: true, Status: registered(ipcproto.StateConnected), Session: sess, EdgeNow: t0, Permissions: allowAll()})
	want := []string{"Servers: needs a user sign-in", "Old: expired", "Company wiki: expires in 42 min",
		"Git over HTTP: expires in 3 h 5 min", "Access apps: expires in 2 d 1 h"}
	if !slices.Equal(v.Sessions, want) {
		t.Errorf("sessions\n got %q\nwant %q", v.Sessions, want)
	}
	// The edge's clock moved past the wiki's deadline.
	v = Render(Input{Up: true, Status: registered(ipcproto.StateConnected), Session: sess, EdgeNow: t0.Add(43 * time.Minute)})
	if v.Sessions[2] != "Company wiki: expired" {
		t.Errorf("after the deadline: %q", v.Sessions)
	}
}

func TestRemaining(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                   "1 min",
		59*time.Minute + time.Second:  "1 h",
		time.Hour:                     "1 h",
		23*time.Hour + 59*time.Minute: "23 h 59 min",
		24 * time.Hour:                "1 d",
		47*time.Hour + 30*time.Minute: "2 d",
		26*time.Hour + time.Second:    "1 d 3 h",
	} {
		if got := Remaining(d); got != want {
			t.Errorf("Remaining(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPromptMissedMakesTheMenuItemLoud(t *testing.T) {
	v := Render(Input{Up: true, Status: registered(ipcproto.StateReauthRequired), Permissions: allowAll(), PromptMissed: true})
	if !strings.Contains(v.ReauthLabel, "session expired") {
		t.Errorf("label %q", v.ReauthLabel)
	}
	v = Render(Input{Up: true, Status: registered(ipcproto.StateConnected), Permissions: allowAll(), PromptMissed: true})
	if v.ReauthLabel != "Re-authenticate" {
		t.Errorf("label when connected %q", v.ReauthLabel)
	}
}
