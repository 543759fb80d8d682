// Package tray is the tray app's logic, apart from any desktop toolkit:
// what the icon, tooltip and menu show for agentd's status, sessions and
// the caller's permissions (Render), which desktop notifications agentd's
// events call for, each once (Prompter), and the loop that follows agentd
// across its restarts and carries out the menu's actions (App).
// cmd/agenttray puts it on a StatusNotifierItem and the freedesktop
// Notifications service.
package tray

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// Condition is what the icon says: one per agent state, and one for an
// agentd that is not answering.
type Condition string

// The conditions. Each agent state is its own condition, so that the
// tooltip can say what it means; DaemonDown is the tray's own.
const (
	DaemonDown         Condition = "daemon_down"
	Unregistered       Condition = Condition(ipcproto.StateUnregistered)
	Registering        Condition = Condition(ipcproto.StateRegistering)
	Connecting         Condition = Condition(ipcproto.StateConnecting)
	Connected          Condition = Condition(ipcproto.StateConnected)
	Disconnected       Condition = Condition(ipcproto.StateDisconnected)
	ReauthRequired     Condition = Condition(ipcproto.StateReauthRequired)
	Revoked            Condition = Condition(ipcproto.StateRevoked)
	KeyringUnavailable Condition = Condition(ipcproto.StateKeyringUnavailable)
)

// Icon names one of the tray's pictures; conditions that call for the
// same reaction share one.
type Icon string

// The icons, named like the freedesktop icon theme's network icons.
const (
	IconConnected    Icon = "connected"
	IconConnecting   Icon = "connecting"
	IconDisconnected Icon = "disconnected"
	IconAttention    Icon = "attention"
	IconRevoked      Icon = "revoked"
	IconDaemonDown   Icon = "daemon-down"
)

// Icons lists every icon.
var Icons = []Icon{IconConnected, IconConnecting, IconDisconnected, IconAttention, IconRevoked, IconDaemonDown}

// Action is a menu item that does something.
type Action string

// The menu's actions. Each but Quit is an IPC route, offered only when
// GET /v1/permissions allows it to the tray's user.
const (
	ActionConnect    Action = "connect"
	ActionDisconnect Action = "disconnect"
	ActionReauth     Action = "reauth"
	ActionRegister   Action = "register"
	ActionLogout     Action = "logout"
	ActionQuit       Action = "quit"
)

// Actions lists the menu's actions in menu order.
var Actions = []Action{ActionConnect, ActionDisconnect, ActionReauth, ActionRegister, ActionLogout, ActionQuit}

// commands maps each action to the agentctl command the permissions name.
var commands = map[Action]string{
	ActionConnect:    "agentctl connect",
	ActionDisconnect: "agentctl disconnect",
	ActionReauth:     "agentctl reauth",
	ActionRegister:   "agentctl register",
	ActionLogout:     "agentctl logout",
}

// Labels are the menu's words for each action.
var Labels = map[Action]string{
	ActionConnect:    "Connect",
	ActionDisconnect: "Disconnect",
	ActionReauth:     "Re-authenticate",
	ActionRegister:   "Register…",
	ActionLogout:     "Log out",
	ActionQuit:       "Quit",
}

// Input is everything the tray knows about agentd at one moment.
type Input struct {
	// Up reports whether agentd answered last time it was asked.
	Up bool
	// Status is agentd's status; Session its per-policy map (nil when
	// unregistered or not fetched); Permissions the caller's verdicts.
	Status      ipcproto.Status
	Session     *ipcproto.Session
	Permissions ipcproto.Permissions
	// EdgeNow is the edge's clock now (Session.ServerTime moved on by the
	// local time since it was fetched): deadlines are on that clock (S1).
	EdgeNow time.Time
	// PromptMissed reports that a re-authentication prompt could not be
	// shown as a notification: the menu's item then says so.
	PromptMissed bool
}

// View is what the tray shows: the icon, the tooltip and the menu.
type View struct {
	Condition Condition
	Icon      Icon
	// Title names the tray item; Tooltip is one line for hovering.
	Title   string
	Tooltip string
	// StateLine is the menu's first, inert line.
	StateLine string
	// Sessions has one inert line per policy that limits the user's
	// session, earliest deadline first.
	Sessions []string
	// Shown lists the actions the menu offers now, in menu order.
	Shown []Action
	// ReauthLabel is the Re-authenticate item's words: louder while a
	// prompt is owed and no notification could carry it.
	ReauthLabel string
}

// Offers reports whether the view offers a.
func (v View) Offers(a Action) bool { return slices.Contains(v.Shown, a) }

// Render returns the view of in.
func Render(in Input) View {
	v := View{Title: "ztagent", ReauthLabel: Labels[ActionReauth]}
	if !in.Up {
		v.Condition, v.Icon = DaemonDown, IconDaemonDown
		v.StateLine = "agentd is not running: waiting for it"
		v.Tooltip = "ztagent: agentd is not running"
		v.Shown = []Action{ActionQuit}
		return v
	}
	st := in.Status
	v.Condition = Condition(st.State)
	who := ""
	if r := st.Registration; r != nil {
		who = registrant(r)
	}
	switch st.State {
	case ipcproto.StateConnected:
		v.Icon, v.StateLine = IconConnected, "Connected"+who
	case ipcproto.StateConnecting:
		v.Icon, v.StateLine = IconConnecting, "Connecting"+who+"…"
	case ipcproto.StateRegistering:
		v.Icon, v.StateLine = IconConnecting, "Registering: finish signing in in your browser"
	case ipcproto.StateDisconnected:
		v.Icon, v.StateLine = IconDisconnected, "Disconnected"+who
	case ipcproto.StateUnregistered:
		v.Icon, v.StateLine = IconDisconnected, "Not registered"
	case ipcproto.StateReauthRequired:
		v.Icon, v.StateLine = IconAttention, "Re-authentication required"+who
	case ipcproto.StateKeyringUnavailable:
		v.Icon, v.StateLine = IconAttention, "The keyring is not available"
	case ipcproto.StateRevoked:
		v.Icon, v.StateLine = IconRevoked, "This device was revoked by an administrator"
	default:
		v.Icon, v.StateLine = IconAttention, "agentd is "+string(st.State)
	}
	v.Tooltip = "ztagent: " + v.StateLine
	if st.Message != "" && (st.State == ipcproto.StateReauthRequired || st.State == ipcproto.StateKeyringUnavailable ||
		st.State == ipcproto.StateRevoked || st.State == ipcproto.StateConnecting) {
		v.Tooltip += "\n" + st.Message
	}
	if st.Registration != nil && in.Session != nil {
		v.Sessions = sessionLines(*in.Session, in.EdgeNow)
	}
	v.Shown = offered(in)
	if in.PromptMissed && st.State == ipcproto.StateReauthRequired {
		v.ReauthLabel = "⚠ Re-authenticate: your session expired"
	}
	return v
}

// registrant returns " as alice@example.com (team acme)", or the service
// token for a device no user enrolled.
func registrant(r *ipcproto.Registration) string {
	user := r.User
	if r.EnrolledVia == "service_token" && r.ServiceToken != "" {
		user = "service token " + r.ServiceToken
	}
	switch {
	case user != "" && r.Team != "":
		return fmt.Sprintf(" as %s (team %s)", user, r.Team)
	case user != "":
		return " as " + user
	case r.Team != "":
		return " to team " + r.Team
	}
	return ""
}

// offered returns the actions that make sense in the state and that the
// permissions allow.
func offered(in Input) []Action {
	st := in.Status.State
	registered := in.Status.Registration != nil
	var want []Action
	switch st {
	case ipcproto.StateDisconnected:
		want = append(want, ActionConnect)
	case ipcproto.StateConnected, ipcproto.StateConnecting, ipcproto.StateReauthRequired:
		want = append(want, ActionDisconnect)
	}
	if registered && st != ipcproto.StateRevoked && in.Status.Registration.EnrolledVia != "service_token" {
		want = append(want, ActionReauth)
	}
	if st == ipcproto.StateUnregistered || st == ipcproto.StateRevoked {
		want = append(want, ActionRegister)
	}
	if registered {
		want = append(want, ActionLogout)
	}
	var out []Action
	for _, a := range want {
		if in.Permissions.Allows(commands[a]) {
			out = append(out, a)
		}
	}
	return append(out, ActionQuit)
}

// sessionLines returns "Company wiki: expires in 42 min" for each policy
// that limits the user, earliest first, and the Access session last.
func sessionLines(s ipcproto.Session, now time.Time) []string {
	pols := slices.Clone(s.Gateway)
	slices.SortStableFunc(pols, func(a, b ipcproto.PolicyExpiry) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	var out []string
	for _, p := range pols {
		if !p.Applies() {
			continue
		}
		out = append(out, p.Name+": "+deadline(p.ExpiresAt, p.Expired, p.NoIdPSession, now))
	}
	if s.Access != nil && !s.Access.ExpiresAt.IsZero() {
		out = append(out, "Access apps: "+deadline(s.Access.ExpiresAt, false, false, now))
	}
	return out
}

// deadline words a deadline on the edge's clock.
func deadline(at time.Time, expired, noIdP bool, now time.Time) string {
	switch {
	case noIdP:
		return "needs a user sign-in"
	case expired || !at.After(now):
		return "expired"
	}
	return "expires in " + Remaining(at.Sub(now))
}

// Remaining words a positive duration to the minute, rounded up so that
// "expires in 1 min" is never shown after the deadline: "42 min",
// "3 h 5 min", "2 d 4 h".
func Remaining(d time.Duration) string {
	mins := int((d + time.Minute - 1) / time.Minute)
	switch {
	case mins < 60:
		return fmt.Sprintf("%d min", mins)
	case mins < 24*60:
		if mins%60 == 0 {
			return fmt.Sprintf("%d h", mins/60)
		}
		return fmt.Sprintf("%d h %d min", mins/60, mins%60)
	}
	days, hours := mins/(24*60), (mins%(24*60)+59)/60
	if hours == 24 {
		days, hours = days+1, 0
	}
	if hours == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, hours)
}

// policyNames joins names for a sentence: "A", "A and B", "A, B and C".
func policyNames(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
