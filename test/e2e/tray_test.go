//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/ztagent/ztagent/internal/testenv/desktop"
	"github.com/ztagent/ztagent/internal/testenv/gobuild"
	testproc "github.com/ztagent/ztagent/internal/testenv/proc"
	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/internal/testenv/sessionbus"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/browseprompt"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// trayUID is the person at the desktop: a uid in the range for people,
// logged in at this computer (trayWorld tells agentd so), who runs the
// tray and registers the device from its menu, so that they are its
// operator.
const trayUID = 4242

// desk is the desktop a tray runs in: a private session bus on which the
// test is the panel (a StatusNotifierWatcher) and the notification
// service, and the tray process itself.
type desk struct {
	w      *world
	bus    *sessionbus.Bus
	conn   *dbus.Conn
	notes  *desktop.Notifications
	item   *desktop.Item
	tray   *testproc.Proc
	home   string
	binDir string
}

// trayWorld is newWorld for the tray: agentd sees trayUID logged in
// (a logind user record in agentd's own mount namespace, where this
// machine runs logind; elsewhere the uid's range is enough), and the
// directories the tray needs are open to that uid.
func trayWorld(t *testing.T) *world {
	t.Helper()
	realdeps.Root(t, "the tray runs as a person's uid, which only root can start")
	unshare := realdeps.Tool(t, "unshare", "install util-linux")
	users := t.TempDir()
	if err := os.WriteFile(filepath.Join(users, fmt.Sprint(trayUID)), []byte("NAME=tray\nSTATE=active\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `if [ -d /run/systemd/users ]; then mount --bind "$0" /run/systemd/users || exit 97; fi; exec "$@"`
	return newWorldWith(t, func(w *world) {
		w.agentWrap = []string{unshare, "--mount", "--propagation", "private", "--", "sh", "-c", script, users}
		openTo(t, filepath.Dir(w.socket), w.opener.binDir, filepath.Join(w.opener.binDir, "xdg-open"))
		fifo := filepath.Join(filepath.Dir(w.opener.binDir), "urls.fifo")
		openTo(t, filepath.Dir(w.opener.binDir))
		if err := os.Chmod(fifo, 0o666); err != nil {
			t.Fatal(err)
		}
	})
}

// openTo makes each path, and each directory above it up to the
// temporary directory's, readable and searchable by every uid.
func openTo(t *testing.T, paths ...string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	for _, p := range paths {
		for d := p; strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// startDesk starts the session bus and the notification service, and
// builds agenttray where trayUID can run it.
func startDesk(w *world) *desk {
	w.t.Helper()
	d := startBareDesk(w)
	d.notes = desktop.StartNotifications(w.t, d.conn)
	return d
}

// startBareDesk is startDesk without a notification service.
func startBareDesk(w *world) *desk {
	w.t.Helper()
	d := &desk{w: w, bus: sessionbus.StartWith(w.t, sessionbus.Options{Users: []int{trayUID}})}
	d.conn = desktop.Connect(w.t, d.bus.Address)
	d.home = w.t.TempDir()
	openTo(w.t, d.home)
	if err := os.MkdirAll(filepath.Join(d.home, "run"), 0o700); err != nil {
		w.t.Fatal(err)
	}
	for _, p := range []string{d.home, filepath.Join(d.home, "run")} {
		if err := os.Chown(p, trayUID, trayUID); err != nil {
			w.t.Fatal(err)
		}
	}
	d.binDir = w.t.TempDir()
	if err := gobuild.Go(d.binDir, os.Getenv(raceEnv) == "1", "./cmd/agenttray"); err != nil {
		w.t.Fatal(err)
	}
	openTo(w.t, d.binDir, filepath.Join(d.binDir, "agenttray"))
	return d
}

// startTray starts agenttray as trayUID on the desk's bus.
func (d *desk) startTray(name string) *testproc.Proc {
	d.w.t.Helper()
	env := []string{
		"HOME=" + d.home, "XDG_RUNTIME_DIR=" + filepath.Join(d.home, "run"), d.bus.Env(),
		"PATH=" + d.w.opener.binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	p := testproc.Start(d.w.t, testproc.Options{Name: name, Bin: filepath.Join(d.binDir, "agenttray"),
		Args: []string{"--socket", d.w.socket}, Env: env, Quiet: true,
		Credential: &testproc.Credential{UID: trayUID, GID: trayUID}})
	d.w.procs = append(d.w.procs, &proc{Proc: p, name: name, launched: p.Launched(),
		out: lineLog{p.Output(testproc.Stdout)}, errOut: lineLog{p.Output(testproc.Stderr)}})
	return p
}

// registerFromMenu clicks Register… in menu and enrolls alice in b, as a
// person does, and waits for agentd to connect.
func (d *desk) registerFromMenu(b *browser, menu []desktop.MenuItem) {
	w := d.w
	w.t.Helper()
	d.click(menu, "Register…")
	u, err := w.opener.next(stepTimeout)
	if err != nil {
		w.fatalf("Register…: %v", err)
	}
	if p := b.open(u); p.Kind != "login" {
		w.fatalf("Register… opened %s showing %v, want the IdP's login", u, p)
	}
	if p := b.login(aliceEmail, alicePassword); p.Kind != "consent" {
		w.fatalf("after the login: %v", p)
	}
	b.confirm()
}

// menu reads the tray's menu.
func (d *desk) menu() []desktop.MenuItem {
	d.w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	m, err := d.item.Menu(ctx)
	if err != nil {
		d.w.fatalf("read the tray's menu: %v", err)
	}
	return m
}

// waitMenu waits until the menu's visible labels satisfy cond, and
// returns the menu: it reads the menu again each time the tray signals a
// change, until stepTimeout.
func (d *desk) waitMenu(what string, cond func(labels []string) bool) []desktop.MenuItem {
	d.w.t.Helper()
	changed, stop := d.item.Changes()
	defer stop()
	deadline := time.NewTimer(stepTimeout)
	defer deadline.Stop()
	for {
		m := d.menu()
		labels := desktop.Visible(m)
		if cond(labels) {
			return m
		}
		select {
		case <-changed:
		case <-deadline.C:
			d.w.fatalf("the tray's menu never showed %s within %v; it shows %q", what, stepTimeout, labels)
		}
	}
}

// has returns a condition that the menu holds each label.
func has(want ...string) func([]string) bool {
	return func(labels []string) bool {
		for _, w := range want {
			if !slices.ContainsFunc(labels, func(l string) bool { return strings.HasPrefix(l, w) }) {
				return false
			}
		}
		return true
	}
}

// click clicks the visible item labelled label through dbusmenu.
func (d *desk) click(menu []desktop.MenuItem, label string) {
	d.w.t.Helper()
	it, ok := desktop.Find(menu, label)
	if !ok {
		d.w.fatalf("the tray's menu has no %q: %q", label, desktop.Visible(menu))
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	if err := d.item.Click(ctx, it.ID); err != nil {
		d.w.fatalf("click %q: %v", label, err)
	}
}

// tooltip returns the item's tooltip.
func (d *desk) tooltip() string {
	d.w.t.Helper()
	s, err := d.item.Tooltip()
	if err != nil {
		d.w.fatalf("read the tray's tooltip: %v", err)
	}
	return s
}

func (d *desk) icon() []byte {
	d.w.t.Helper()
	b, err := d.item.IconPixmap()
	if err != nil || len(b) == 0 {
		d.w.fatalf("read the tray's icon: %v (%d bytes)", err, len(b))
	}
	return b
}

// nextPrompt waits for the next re-authentication prompt, past any
// other notification.
func (d *desk) nextPrompt() desktop.Notification {
	d.w.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		n := d.notes.Next(d.w.t, time.Until(deadline))
		if n.Summary == "Re-authenticate your session" {
			return n
		}
	}
}

// reauthPrompts counts the notifications that asked to sign in again.
func (d *desk) reauthPrompts() int {
	n := 0
	for _, no := range d.notes.All() {
		if no.Summary == "Re-authenticate your session" {
			n++
		}
	}
	return n
}

// TestE2E_TrayAsksOnceAndFollowsAgentd: a person registers from the
// tray's menu; two policies expire together and one notification asks
// them to sign in again; agentd restarts under the tray, which shows it
// and asks nothing more; the notification's button opens the
// refresh-identity page, and the menu's Disconnect reaches agentd.
func TestE2E_TrayAsksOnceAndFollowsAgentd(t *testing.T) {
	w := trayWorld(t)
	d := startDesk(w)
	watcher := desktop.StartWatcher(t, d.conn)
	d.tray = d.startTray("agenttray")
	d.item = desktop.ItemOf(d.conn, watcher.Next(t, startTimeout))

	menu := d.waitMenu("the unregistered state", has("Not registered", "Register…", "Quit"))
	if labels := desktop.Visible(menu); slices.Contains(labels, "Disconnect") || slices.Contains(labels, "Log out") {
		w.fatalf("an unregistered device's menu offers %q", labels)
	}
	if tip := d.tooltip(); tip != "ztagent: Not registered" {
		w.fatalf("tooltip %q", tip)
	}
	unregisteredIcon := d.icon()

	// One tray per session: a second one says so and exits.
	second := d.startTray("second agenttray")
	if err := second.Wait(startTimeout); err == nil {
		w.fatalf("a second agenttray ran")
	}
	if out := second.Report(20); !strings.Contains(out, "another agenttray is already running") {
		w.fatalf("the second agenttray said:\n%s", out)
	}

	// Register… opens the enrollment in the browser, as the tray's user.
	b := startBrowser(w)
	d.registerFromMenu(b, menu)
	menu = d.waitMenu("connected", has("Connected as alice@example.com (team acme)", "Disconnect", "Re-authenticate", "Log out"))
	if tip := d.tooltip(); tip != "ztagent: Connected as alice@example.com (team acme)" {
		w.fatalf("tooltip %q", tip)
	}
	connectedIcon := d.icon()
	if bytes.Equal(connectedIcon, unregisteredIcon) {
		w.fatalf("the connected icon is the unregistered one")
	}
	if labels := desktop.Visible(menu); !has("Git over HTTP: expires in 1 h", "Company Wiki Network policy: expires in 1 h 30 min")(labels) {
		w.fatalf("the menu's sessions: %q", labels)
	}

	// Both policies expire; flows to each are refused.
	w.edged("clock", "advance", "2h")
	d.waitMenu("re-authentication required", has("Re-authentication required", "Git over HTTP: expired", "Company Wiki Network policy: expired"))
	w.get(wikiURL)
	w.get(gitURL)
	n := d.nextPrompt()
	if n.Summary != "Re-authenticate your session" || !strings.Contains(n.Body, "Company Wiki Network policy") ||
		!strings.Contains(n.Body, "Git over HTTP") || len(n.Actions) != 2 || n.Actions[1] != "Re-authenticate" {
		w.fatalf("the prompt: %+v", n)
	}
	if strings.Contains(n.Summary+n.Body, "http") {
		w.fatalf("the prompt's text carries a URL: %+v", n)
	}
	if tip := d.tooltip(); !strings.HasPrefix(tip, "ztagent: Re-authentication required") || !strings.Contains(tip, "sign in again") {
		w.fatalf("tooltip %q", tip)
	}

	// agentd restarts under the tray.
	if !w.agent.stop(stopGrace + w.agent.startup) {
		w.fatalf("agentd did not stop")
	}
	d.waitMenu("agentd not running", has("agentd is not running"))
	if tip := d.tooltip(); tip != "ztagent: agentd is not running" {
		w.fatalf("tooltip while agentd is down %q", tip)
	}
	if down := d.icon(); bytes.Equal(down, connectedIcon) || bytes.Equal(down, unregisteredIcon) {
		w.fatalf("the icon while agentd is down is another state's")
	}
	w.startAgent()
	d.waitMenu("re-authentication required after the restart", has("Re-authentication required", "Disconnect"))
	w.get(wikiURL) // refused again: agentd may prompt again, the tray must not
	// The notification's button opens the page it asked about.
	d.notes.Invoke(t, n.ID, "default")
	u, err := w.opener.next(stepTimeout)
	if err != nil {
		w.fatalf("the notification's action: %v", err)
	}
	if !strings.HasPrefix(u, w.teamURL+"/cdn-cgi/access/refresh-identity") {
		w.fatalf("the notification's action opened %s, want the refresh-identity URL", u)
	}
	p := b.open(u)
	if p.Kind == "login" {
		p = b.login(aliceEmail, alicePassword)
	}
	if p.Title != "Session refreshed" {
		w.fatalf("refresh-identity ended at %v", p)
	}
	menu = d.waitMenu("connected after re-authentication", has("Connected as alice@example.com", "Git over HTTP: expires in 1 h"))
	if c := d.reauthPrompts(); c != 1 {
		w.fatalf("%d re-authentication notifications for one expiry, want 1: %+v", c, d.notes.All())
	}
	if !slices.Contains(d.notes.Closed(), n.ID) {
		w.fatalf("the answered prompt was not withdrawn: closed %v", d.notes.Closed())
	}

	// The menu's Re-authenticate signs in again at once: agentd says
	// session_refreshed (the edge's clock a minute on, so that the new
	// sign-in is later by the second).
	events := ipc.NewClient(w.socket)
	defer events.Close()
	ectx, ecancel := context.WithTimeout(context.Background(), stepTimeout)
	defer ecancel()
	stream, err := events.Events(ectx)
	if err != nil {
		w.fatalf("subscribe to agentd's events: %v", err)
	}
	defer stream.Close()
	w.edged("clock", "advance", "1m")
	d.click(menu, "Re-authenticate")
	u, err = w.opener.next(stepTimeout)
	if err != nil {
		w.fatalf("the menu's Re-authenticate: %v", err)
	}
	if !strings.HasPrefix(u, w.teamURL+"/cdn-cgi/access/refresh-identity") {
		w.fatalf("the menu's Re-authenticate opened %s", u)
	}
	if p := b.open(u); p.Kind == "login" {
		b.login(aliceEmail, alicePassword)
	}
	for src := browseprompt.FromStream(stream); ; {
		ev, err := src.Next(ectx)
		if err != nil {
			w.fatalf("agentd said no session_refreshed after the menu's Re-authenticate: %v", err)
		}
		if ev.Type == ipcproto.EventSessionRefreshed {
			break
		}
	}

	d.click(menu, "Disconnect")
	d.waitMenu("disconnected", has("Disconnected as alice@example.com", "Connect"))
	if st := w.status(); st.State != ipcproto.StateDisconnected {
		w.fatalf("after the menu's Disconnect agentd is %s", st.State)
	}
}

// TestE2E_TrayWithoutNotificationsOrPanel: on a desktop with no
// notification service and, at first, no panel, the tray says both once;
// a panel that starts later gets the icon, and an expired session's
// prompt is in the menu.
func TestE2E_TrayWithoutNotificationsOrPanel(t *testing.T) {
	w := trayWorld(t)
	d := startBareDesk(w)
	d.tray = d.startTray("agenttray")
	for _, want := range []string{"no panel on this desktop hosts tray icons", "no desktop notifications: prompts are in the tray menu only"} {
		if _, _, err := d.tray.WaitLine(testproc.Stderr, 0, startTimeout, func(s string) bool { return strings.Contains(s, want) }); err != nil {
			w.fatalf("agenttray did not say %q: %v", want, err)
		}
	}
	watcher := desktop.StartWatcher(t, d.conn)
	d.item = desktop.ItemOf(d.conn, watcher.Next(t, startTimeout))
	b := startBrowser(w)
	d.registerFromMenu(b, d.waitMenu("the unregistered state", has("Register…")))
	d.waitMenu("connected", has("Connected as alice@example.com"))
	w.edged("clock", "advance", "2h")
	w.get(wikiURL)
	d.waitMenu("the prompt in the menu", has("⚠ Re-authenticate: your session expired"))
	if n := d.tray.Output(testproc.Stderr).Count(func(s string) bool {
		return strings.Contains(s, "cannot show desktop notifications") || strings.Contains(s, "no desktop notifications")
	}); n != 1 {
		w.fatalf("agenttray said %d times that it cannot show notifications, want once", n)
	}
}
