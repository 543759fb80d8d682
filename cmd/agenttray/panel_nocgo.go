//go:build darwin && !cgo

package main

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/tray"
)

// runTray cannot put an icon in the macOS status bar without cgo:
// fyne.io/systray's macOS backend is Objective-C. The build works so that
// every command cross-builds; running it says what to do.
func runTray(_ context.Context, log *zap.Logger, _ func(tray.Panel, tray.Notifier) *tray.App) int {
	_ = log
	fmt.Fprintln(os.Stderr, "agenttray: this build has no macOS status bar item: build it on a Mac with CGO_ENABLED=1 and Xcode's command line tools (see docs/TRAY.md)")
	return 1
}
