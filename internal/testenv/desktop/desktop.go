// Package desktop plays the desktop for a tray app's tests, over D-Bus:
// a StatusNotifierWatcher that items register with (as a panel's host
// does), a reader of a registered item's properties and com.canonical.
// dbusmenu menu that can click its items, and a freedesktop notification
// service that records each notification and can invoke its action.
package desktop

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// Connect opens a private connection to the bus at addr, closed when t
// ends.
func Connect(t testing.TB, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to the test's session bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Registration is one RegisterStatusNotifierItem call.
type Registration struct {
	// Sender is the item's unique bus name; Path its object path.
	Sender string
	Path   dbus.ObjectPath
}

// Watcher is a test org.kde.StatusNotifierWatcher.
type Watcher struct {
	ch chan Registration
}

// StartWatcher owns org.kde.StatusNotifierWatcher on conn and records the
// items that register.
func StartWatcher(t testing.TB, conn *dbus.Conn) *Watcher {
	t.Helper()
	w := &Watcher{ch: make(chan Registration, 16)}
	const path = "/StatusNotifierWatcher"
	const iface = "org.kde.StatusNotifierWatcher"
	if err := conn.ExportMethodTable(map[string]any{
		"RegisterStatusNotifierItem": func(sender dbus.Sender, service string) *dbus.Error {
			r := Registration{Sender: string(sender), Path: "/StatusNotifierItem"}
			// The spec lets an item pass its bus name or its object path.
			if strings.HasPrefix(service, "/") {
				r.Path = dbus.ObjectPath(service)
			}
			select {
			case w.ch <- r:
			default:
			}
			return nil
		},
		"RegisterStatusNotifierHost": func(string) *dbus.Error { return nil },
	}, path, iface); err != nil {
		t.Fatal(err)
	}
	if _, err := prop.Export(conn, path, prop.Map{iface: {
		"IsStatusNotifierHostRegistered": {Value: true, Emit: prop.EmitFalse},
		"ProtocolVersion":                {Value: int32(0), Emit: prop.EmitFalse},
		"RegisteredStatusNotifierItems":  {Value: []string{}, Emit: prop.EmitFalse},
	}}); err != nil {
		t.Fatal(err)
	}
	requestName(t, conn, iface)
	return w
}

// Next waits for the next registration.
func (w *Watcher) Next(t testing.TB, timeout time.Duration) Registration {
	t.Helper()
	return next(t, w.ch, timeout, func() string { return "no tray item registered with the StatusNotifierWatcher" })
}

// next receives from ch, failing t after timeout with what's words.
func next[T any](t testing.TB, ch <-chan T, timeout time.Duration, what func() string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("%s within %v", what(), timeout)
	}
	var zero T
	return zero
}

func requestName(t testing.TB, conn *dbus.Conn, name string) {
	t.Helper()
	reply, err := conn.RequestName(name, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s on the test bus: %v (reply %v)", name, err, reply)
	}
}

// Item reads and drives a registered StatusNotifierItem.
type Item struct {
	conn *dbus.Conn
	reg  Registration
}

// ItemOf returns the item r registered.
func ItemOf(conn *dbus.Conn, r Registration) *Item { return &Item{conn: conn, reg: r} }

// Property returns one of the item's org.kde.StatusNotifierItem
// properties.
func (it *Item) Property(name string) (any, error) {
	v, err := it.conn.Object(it.reg.Sender, it.reg.Path).GetProperty("org.kde.StatusNotifierItem." + name)
	if err != nil {
		return nil, err
	}
	return v.Value(), nil
}

// Tooltip returns the ToolTip property's title.
func (it *Item) Tooltip() (string, error) {
	v, err := it.Property("ToolTip")
	if err != nil {
		return "", err
	}
	// (sa(iiay)ss): icon name, icon pixmaps, title, description.
	f, ok := v.([]any)
	if !ok || len(f) != 4 {
		return "", fmt.Errorf("ToolTip is %T %v, want (sa(iiay)ss)", v, v)
	}
	title, _ := f[2].(string)
	return title, nil
}

// IconPixmap returns the first pixmap's ARGB bytes.
func (it *Item) IconPixmap() ([]byte, error) {
	v, err := it.Property("IconPixmap")
	if err != nil {
		return nil, err
	}
	list, ok := v.([][]any)
	if !ok || len(list) == 0 || len(list[0]) != 3 {
		return nil, fmt.Errorf("IconPixmap is %T %v, want a(iiay)", v, v)
	}
	b, _ := list[0][2].([]byte)
	return b, nil
}

// MenuItem is one item of the dbusmenu layout.
type MenuItem struct {
	ID       int32
	Label    string
	Enabled  bool
	Visible  bool
	Children []MenuItem
}

// Menu reads the item's whole menu (com.canonical.dbusmenu.GetLayout).
func (it *Item) Menu(ctx context.Context) ([]MenuItem, error) {
	menuPath, err := it.Property("Menu")
	if err != nil {
		return nil, err
	}
	p, ok := menuPath.(dbus.ObjectPath)
	if !ok {
		return nil, fmt.Errorf("Menu is %T, want an object path", menuPath)
	}
	var rev uint32
	var root struct {
		ID       int32
		Props    map[string]dbus.Variant
		Children []dbus.Variant
	}
	call := it.conn.Object(it.reg.Sender, p).CallWithContext(ctx, "com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&rev, &root); err != nil {
		return nil, fmt.Errorf("GetLayout: %w", err)
	}
	return children(root.Children)
}

func children(vs []dbus.Variant) ([]MenuItem, error) {
	var out []MenuItem
	for _, v := range vs {
		f, ok := v.Value().([]any)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("a layout entry is %T, want (ia{sv}av)", v.Value())
		}
		m := MenuItem{Enabled: true, Visible: true}
		m.ID, _ = f[0].(int32)
		props, _ := f[1].(map[string]dbus.Variant)
		if l, ok := props["label"]; ok {
			m.Label, _ = l.Value().(string)
		}
		if e, ok := props["enabled"]; ok {
			m.Enabled, _ = e.Value().(bool)
		}
		if vis, ok := props["visible"]; ok {
			m.Visible, _ = vis.Value().(bool)
		}
		if typ, ok := props["type"]; ok && typ.Value() == "separator" {
			m.Label = "---"
		}
		kids, _ := f[2].([]dbus.Variant)
		var err error
		if m.Children, err = children(kids); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Visible returns the labels of the visible items, separators as "---".
func Visible(items []MenuItem) []string {
	var out []string
	for _, m := range items {
		if m.Visible {
			out = append(out, m.Label)
		}
	}
	return out
}

// Find returns the visible item labelled label.
func Find(items []MenuItem, label string) (MenuItem, bool) {
	for _, m := range items {
		if m.Visible && m.Label == label {
			return m, true
		}
	}
	return MenuItem{}, false
}

// Changes returns a channel that receives whenever the item sends a
// signal (a new tooltip or icon, its menu's LayoutUpdated or
// ItemsPropertiesUpdated, a property change), and stop, which ends it.
// Subscribe before reading what should change, so that no change falls
// between the read and the wait.
func (it *Item) Changes() (changed <-chan struct{}, stop func()) {
	return SignalsFrom(it.conn, it.reg.Sender)
}

// SignalsFrom returns a channel that receives whenever sender (a unique
// bus name, or the bus itself: org.freedesktop.DBus) sends a signal on
// conn, coalesced, and stop, which ends the subscription.
func SignalsFrom(conn *dbus.Conn, sender string) (changed <-chan struct{}, stop func()) {
	opt := dbus.WithMatchSender(sender)
	_ = conn.AddMatchSignal(opt)
	sigs := make(chan *dbus.Signal, 64)
	conn.Signal(sigs)
	out := make(chan struct{}, 1)
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case sig := <-sigs:
				if sig != nil && sig.Sender == sender {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			conn.RemoveSignal(sigs)
			_ = conn.RemoveMatchSignal(opt)
			close(quit)
			<-done
		})
	}
}

// Click sends the dbusmenu "clicked" event for item id, as a panel does.
func (it *Item) Click(ctx context.Context, id int32) error {
	menuPath, err := it.Property("Menu")
	if err != nil {
		return err
	}
	p, _ := menuPath.(dbus.ObjectPath)
	return it.conn.Object(it.reg.Sender, p).CallWithContext(ctx, "com.canonical.dbusmenu.Event", 0,
		id, "clicked", dbus.MakeVariant(""), uint32(time.Now().Unix())).Err
}
