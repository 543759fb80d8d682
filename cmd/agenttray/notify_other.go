//go:build !linux

package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/tray"
)

// checkDesktop has nothing to check: the Windows and macOS trays need no
// bus.
func checkDesktop() error { return nil }

// warnIfNoPanel has nothing to check: Windows and macOS always have a
// notification area.
func warnIfNoPanel(*zap.Logger) {}

// desktopNotifier has no notification service to offer outside Linux yet:
// the tray's menu carries the prompts (its Re-authenticate item says when
// a session expired).
func desktopNotifier(_ context.Context, log *zap.Logger, _ func(uint32)) (tray.Notifier, func()) {
	log.Info("desktop notifications are not implemented on this system; prompts are in the tray menu")
	return nil, func() {}
}
