package main

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/tray"
	"github.com/ztagent/ztagent/platform/notify"
)

// checkDesktop reports why the tray cannot show an icon: systray puts
// its item on the session bus, and stops with a crash when there is none.
// It connects systray's shared connection, which systray then uses.
func checkDesktop() error {
	if _, err := dbus.SessionBus(); err != nil {
		return fmt.Errorf("no desktop session bus to put the tray icon on (%v): run agenttray in your desktop session, where DBUS_SESSION_BUS_ADDRESS is set", err)
	}
	return nil
}

// warnIfNoPanel says, once at start, when no panel on the session bus
// hosts tray icons: systray's item then registers with nobody and the
// user sees nothing but the notifications. A panel that starts later
// still picks the item up (systray registers again when the watcher
// appears).
func warnIfNoPanel(log *zap.Logger) {
	conn, err := dbus.SessionBus()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var has bool
	if conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has) == nil && !has {
		log.Warn("no panel on this desktop hosts tray icons (no org.kde.StatusNotifierWatcher); on GNOME install the AppIndicator extension. Notifications still work")
	}
}

// desktopNotifier connects to the session's notification service on a
// connection of its own; without one the tray's menu carries the prompts,
// and the log says so once.
func desktopNotifier(ctx context.Context, log *zap.Logger, onAction func(uint32)) (tray.Notifier, func()) {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		log.Warn("no session bus: prompts are in the tray menu only", zap.Error(err))
		return nil, func() {}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := notify.Connect(cctx, conn, "ztagent", onAction)
	if err != nil {
		log.Warn("no desktop notifications: prompts are in the tray menu only", zap.Error(err))
		conn.Close()
		return nil, func() {}
	}
	return c, func() { c.Shutdown(); conn.Close() }
}
