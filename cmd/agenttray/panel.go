//go:build !darwin || cgo

package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"fyne.io/systray"
	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/tray"
)

// maxSessionLines is how many policies the menu lists; the rest are
// counted on one more line.
const maxSessionLines = 8

// panel shows a tray.View on fyne.io/systray's item: a StatusNotifierItem
// with a com.canonical.dbusmenu menu on Linux, the notification area on
// Windows, the status bar on macOS. systray is one item per process, so
// there is one panel.
type panel struct {
	mu       sync.Mutex
	state    *systray.MenuItem
	sessions []*systray.MenuItem
	more     *systray.MenuItem
	actions  map[tray.Action]*systray.MenuItem
	last     *tray.View
}

// newPanel builds the menu: every item exists from the start and is shown
// or hidden per view, so that its dbusmenu id stays the same.
func newPanel() *panel {
	p := &panel{actions: map[tray.Action]*systray.MenuItem{}}
	systray.SetTitle("ztagent")
	p.state = systray.AddMenuItem("agentd is not running: waiting for it", "")
	p.state.Disable()
	systray.AddSeparator()
	for range maxSessionLines {
		it := systray.AddMenuItem("", "")
		it.Disable()
		it.Hide()
		p.sessions = append(p.sessions, it)
	}
	p.more = systray.AddMenuItem("", "")
	p.more.Disable()
	p.more.Hide()
	systray.AddSeparator()
	for _, a := range tray.Actions {
		if a == tray.ActionQuit {
			systray.AddSeparator()
		}
		it := systray.AddMenuItem(tray.Labels[a], "")
		if a != tray.ActionQuit {
			it.Hide()
		}
		p.actions[a] = it
	}
	return p
}

// Show updates what changed since the last view.
func (p *panel) Show(v tray.View) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.last
	p.last = &v
	if old == nil || old.Icon != v.Icon {
		if runtime.GOOS == "windows" {
			systray.SetIcon(tray.IconICO(v.Icon))
		} else {
			systray.SetIcon(tray.IconPNG(v.Icon))
		}
	}
	if old == nil || old.Tooltip != v.Tooltip {
		systray.SetTooltip(v.Tooltip)
	}
	if old == nil || old.StateLine != v.StateLine {
		p.state.SetTitle(v.StateLine)
	}
	for i, it := range p.sessions {
		if i < len(v.Sessions) {
			it.SetTitle(v.Sessions[i])
			it.Show()
		} else {
			it.Hide()
		}
	}
	if n := len(v.Sessions) - maxSessionLines; n > 0 {
		p.more.SetTitle(fmt.Sprintf("…and %d more (agentctl session lists them)", n))
		p.more.Show()
	} else {
		p.more.Hide()
	}
	for a, it := range p.actions {
		if a == tray.ActionReauth {
			it.SetTitle(v.ReauthLabel)
		}
		if v.Offers(a) {
			it.Show()
		} else {
			it.Hide()
		}
	}
}

// runTray runs the tray until ctx ends or Quit is chosen. newApp builds
// the App on the panel and the notifier (nil without a notification
// service).
func runTray(ctx context.Context, log *zap.Logger, newApp func(tray.Panel, tray.Notifier) *tray.App) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	warnIfNoPanel(log)
	var app atomic.Pointer[tray.App]
	notifier, closeNotifier := desktopNotifier(ctx, log, func(id uint32) {
		if a := app.Load(); a != nil {
			a.Invoked(id)
		}
	})
	defer closeNotifier()

	var wg sync.WaitGroup
	code := 0
	onReady := func() {
		p := newPanel()
		a := newApp(p, notifier)
		app.Store(a)
		for act, it := range p.actions {
			wg.Go(func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-it.ClickedCh:
						a.Click(act)
					}
				}
			})
		}
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				log.Error("the tray stopped", zap.Error(err))
				code = 1
			}
			systray.Quit()
		})
	}
	// The menu goroutines end with ctx, which onExit ends once systray's
	// loop stops, however it stops.
	systray.Run(onReady, cancel)
	cancel()
	wg.Wait()
	return code
}
