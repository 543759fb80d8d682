package desktop

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// Notification is one Notify call the test service received.
type Notification struct {
	ID       uint32
	App      string
	Replaces uint32
	Icon     string
	Summary  string
	Body     string
	Actions  []string
	Hints    map[string]dbus.Variant
	Timeout  int32
}

// Notifications is a test org.freedesktop.Notifications service.
type Notifications struct {
	conn   *dbus.Conn
	mu     sync.Mutex
	next   uint32
	got    []Notification
	closed []uint32
	ch     chan Notification
}

// StartNotifications owns org.freedesktop.Notifications on conn.
func StartNotifications(t testing.TB, conn *dbus.Conn) *Notifications {
	t.Helper()
	n := &Notifications{conn: conn, ch: make(chan Notification, 32)}
	const iface = "org.freedesktop.Notifications"
	if err := conn.ExportMethodTable(map[string]any{
		"GetServerInformation": func() (string, string, string, string, *dbus.Error) {
			return "ztagent-test", "ztagent", "1", "1.2", nil
		},
		"GetCapabilities": func() ([]string, *dbus.Error) { return []string{"actions", "body", "body-markup"}, nil },
		"Notify": func(app string, replaces uint32, icon, summary, body string, actions []string,
			hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
			n.mu.Lock()
			id := replaces
			if id == 0 {
				n.next++
				id = n.next
			}
			got := Notification{ID: id, App: app, Replaces: replaces, Icon: icon, Summary: summary, Body: body,
				Actions: actions, Hints: hints, Timeout: timeout}
			n.got = append(n.got, got)
			n.mu.Unlock()
			select {
			case n.ch <- got:
			default:
			}
			return id, nil
		},
		"CloseNotification": func(id uint32) *dbus.Error {
			n.mu.Lock()
			n.closed = append(n.closed, id)
			n.mu.Unlock()
			return nil
		},
	}, "/org/freedesktop/Notifications", iface); err != nil {
		t.Fatal(err)
	}
	requestName(t, conn, iface)
	return n
}

// Next waits for the next notification.
func (n *Notifications) Next(t testing.TB, timeout time.Duration) Notification {
	t.Helper()
	return next(t, n.ch, timeout, func() string { return fmt.Sprintf("no notification arrived (so far: %+v)", n.All()) })
}

// All returns every notification received.
func (n *Notifications) All() []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.got...)
}

// Closed returns the ids the client closed.
func (n *Notifications) Closed() []uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]uint32(nil), n.closed...)
}

// Invoke emits ActionInvoked for notification id with key, as the
// service does when the user presses the action's button.
func (n *Notifications) Invoke(t testing.TB, id uint32, key string) {
	t.Helper()
	if err := n.conn.Emit("/org/freedesktop/Notifications", "org.freedesktop.Notifications.ActionInvoked", id, key); err != nil {
		t.Fatalf("emit ActionInvoked: %v", err)
	}
}
