// Package notify shows desktop notifications through the freedesktop
// Notifications service (org.freedesktop.Notifications on the session
// bus, the Desktop Notifications Specification 1.2) and reports which
// notification's action the user chose.
package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/ztagent/ztagent/pkg/tray"
)

// The service's bus name, object and interface.
const (
	BusName   = "org.freedesktop.Notifications"
	Path      = dbus.ObjectPath("/org/freedesktop/Notifications")
	Interface = "org.freedesktop.Notifications"
)

// actionKey is the key of every notification's one action: "default" is
// also what a click on the notification's body invokes.
const actionKey = "default"

// ErrNoService is returned when the session has no notification service.
var ErrNoService = errors.New("the session bus has no notification service (org.freedesktop.Notifications)")

// Client shows notifications for one application.
type Client struct {
	conn    *dbus.Conn
	obj     dbus.BusObject
	app     string
	signals chan *dbus.Signal
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	// markup is set when the server reads the body as markup: names from
	// the organization's policies are then escaped, not interpreted.
	markup bool
}

// Connect returns a Client on conn, after asking the service who it is:
// ErrNoService when nobody owns or can be started for the name. OnAction
// is called with the id of each notification whose action was chosen
// (from the client's own goroutine, until Close).
func Connect(ctx context.Context, conn *dbus.Conn, app string, onAction func(id uint32)) (*Client, error) {
	obj := conn.Object(BusName, Path)
	var name, vendor, version, spec string
	if err := obj.CallWithContext(ctx, Interface+".GetServerInformation", 0).Store(&name, &vendor, &version, &spec); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoService, err)
	}
	c := &Client{conn: conn, obj: obj, app: app, signals: make(chan *dbus.Signal, 16),
		stop: make(chan struct{}), done: make(chan struct{})}
	var caps []string
	if err := obj.CallWithContext(ctx, Interface+".GetCapabilities", 0).Store(&caps); err == nil {
		c.markup = slices.Contains(caps, "body-markup")
	}
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(Interface), dbus.WithMatchMember("ActionInvoked"),
		dbus.WithMatchObjectPath(Path)); err != nil {
		return nil, fmt.Errorf("listen for notification actions: %w", err)
	}
	conn.Signal(c.signals)
	go c.listen(onAction)
	return c, nil
}

func (c *Client) listen(onAction func(uint32)) {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case sig, ok := <-c.signals:
			if !ok {
				return
			}
			if sig.Name != Interface+".ActionInvoked" || sig.Path != Path || len(sig.Body) != 2 {
				continue
			}
			id, ok1 := sig.Body[0].(uint32)
			key, ok2 := sig.Body[1].(string)
			if ok1 && ok2 && key == actionKey && onAction != nil {
				onAction(id)
			}
		}
	}
}

// Notify shows n, replacing notification replaces when it is still shown,
// and returns its id.
func (c *Client) Notify(ctx context.Context, n tray.Notice, replaces uint32) (uint32, error) {
	var actions []string
	if n.Action != "" {
		actions = []string{actionKey, n.Action}
	}
	urgency := byte(1)
	timeout := int32(-1) // the server's default
	if n.Urgent {
		urgency, timeout = 2, 0 // critical, and never expires
	}
	hints := map[string]dbus.Variant{
		"urgency":       dbus.MakeVariant(urgency),
		"desktop-entry": dbus.MakeVariant("ztagent-tray"),
	}
	body := n.Body
	if c.markup {
		body = markupEscaper.Replace(body)
	}
	var id uint32
	err := c.obj.CallWithContext(ctx, Interface+".Notify", 0,
		c.app, replaces, "network-vpn", n.Summary, body, actions, hints, timeout).Store(&id)
	if err != nil {
		return 0, fmt.Errorf("show a notification: %w", err)
	}
	return id, nil
}

// markupEscaper escapes the body markup's special characters.
var markupEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Close withdraws notification id.
func (c *Client) Close(ctx context.Context, id uint32) error {
	return c.obj.CallWithContext(ctx, Interface+".CloseNotification", 0, id).Err
}

// Shutdown stops listening for actions. The connection is the caller's.
func (c *Client) Shutdown() {
	c.once.Do(func() {
		c.conn.RemoveSignal(c.signals)
		close(c.stop)
		<-c.done
	})
}
