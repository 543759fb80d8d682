// Package browser opens validated URLs in the user's browser. It wraps
// github.com/pkg/browser, which on Linux runs the first of xdg-open,
// x-www-browser and www-browser found on PATH, passes the URL unchecked and
// blocks until the launcher exits: so every URL is validated first (SEC4)
// and every launch is bounded in time.
package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	pkgbrowser "github.com/pkg/browser"

	"github.com/ztagent/ztagent/internal/browseurl"
)

// Opener opens a URL in a browser. Front-ends take one, so that tests can
// record what would be opened.
type Opener interface {
	Open(ctx context.Context, rawURL string) error
}

// DefaultTimeout bounds one launch: xdg-open returns once it has handed
// the URL to a browser.
const DefaultTimeout = 30 * time.Second

// ErrBusy is returned while a previous launch has not returned yet.
var ErrBusy = errors.New("a previous browser launch has not finished; open the URL yourself")

// System opens URLs with the desktop's browser launcher, only when they
// pass browseurl.Validate against Allowed.
type System struct {
	// Allowed are the origins or hosts a URL may point at: the team
	// domain and the IdP (SEC4).
	Allowed []string
	// AllowedFunc, when set, is asked for the allowed origins at each
	// Open instead of Allowed: they follow the registration, and one
	// System serves a whole process (its one-launch-at-a-time guard only
	// works if it is shared).
	AllowedFunc func() []string
	// Launch hands a validated URL to the desktop; pkg/browser's OpenURL
	// when nil. Tests replace it to see what production validation let
	// through.
	Launch func(url string) error
	// Timeout bounds each launch; DefaultTimeout when zero.
	Timeout time.Duration

	// launching allows one launch at a time: a launcher that hangs past
	// Timeout keeps its goroutine until it exits (pkg/browser cannot be
	// cancelled), and must not be joined by others.
	launching sync.Mutex
}

// Open validates rawURL and hands it to the launcher.
func (s *System) Open(ctx context.Context, rawURL string) error {
	allowed := s.Allowed
	if s.AllowedFunc != nil {
		allowed = s.AllowedFunc()
	}
	if len(allowed) == 0 {
		return errors.New("refusing to open the URL: no team domain is known yet to check it against")
	}
	u, err := browseurl.Validate(rawURL, allowed...)
	if err != nil {
		return fmt.Errorf("refusing to open the URL: %w", err)
	}
	if !s.launching.TryLock() {
		return ErrBusy
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	done := make(chan error, 1)
	go func() {
		defer s.launching.Unlock()
		// The launcher's chatter is not ours to print.
		pkgbrowser.Stdout, pkgbrowser.Stderr = io.Discard, io.Discard
		launch := s.Launch
		if launch == nil {
			launch = pkgbrowser.OpenURL
		}
		done <- launch(u.String())
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("open a browser (is xdg-open installed and a desktop session running?): %w", err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("the browser launcher did not return within %v; open the URL yourself", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
