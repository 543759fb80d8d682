//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
)

// opener is the user's desktop as agentctl sees it: an xdg-open first on
// PATH (pkg/browser runs xdg-open on Linux) that writes each URL it is
// given to a FIFO the test reads, so that the test's Chromium opens it.
type opener struct {
	// binDir holds the xdg-open shim; it goes first on agentctl's PATH.
	binDir string
	urls   chan string

	mu     sync.Mutex
	opened []string
}

// shim is the xdg-open stand-in. One printf of a short line to a FIFO is a
// single atomic write, so URLs from concurrent launches never interleave.
const shim = `#!/bin/sh
# xdg-open for the e2e tests: hand the URL to the test's Chromium.
printf '%%s\n' "$1" > '%s'
`

func newOpener(t *testing.T) *opener {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "urls.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// Read-write, so that the open does not wait for a writer and the
	// reader never sees EOF between launches.
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	o := &opener{binDir: filepath.Join(dir, "bin"), urls: make(chan string, 16)}
	if err := os.Mkdir(o.binDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.binDir, "xdg-open"), fmt.Appendf(nil, shim, fifo), 0o700); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			o.mu.Lock()
			o.opened = append(o.opened, sc.Text())
			o.mu.Unlock()
			select {
			case o.urls <- sc.Text():
			default: // counted in opened; a test that ignores it fails on the count
			}
		}
	}()
	t.Cleanup(func() {
		// A FIFO is pollable: Close wakes the blocked read.
		f.Close()
		<-done
	})
	return o
}

// next waits for the next URL handed to the browser.
func (o *opener) next(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case u := <-o.urls:
		return u, nil
	case <-t.C:
		return "", fmt.Errorf("no URL was opened in the browser within %v", timeout)
	}
}

// all returns every URL opened so far.
func (o *opener) all() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.opened...)
}

// browser is the user's real browser: headless Chromium with a fresh
// profile, driven with chromedp.
type browser struct {
	w   *world
	ctx context.Context
	// log is chromedp's and Chromium's output, for failure reports.
	log *syncbuf.Buffer
}

// startBrowser starts Chromium with the flags of DESIGN §11 and stops it
// when the test ends.
func startBrowser(w *world) *browser {
	w.t.Helper()
	log := &syncbuf.Buffer{}
	var cmd *exec.Cmd
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium()),
		chromedp.NoSandbox, // as root Chromium refuses to start without it
		chromedp.Headless,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// A fresh profile each time: no user data dir is given, so chromedp
		// makes a new one (--user-data-dir) and removes it afterwards.
		chromedp.CombinedOutput(log),
		chromedp.ModifyCmdFunc(func(c *exec.Cmd) {
			// Its own process group, so that a Chromium that does not
			// close can be killed whole; and it dies with the test.
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			cmd = c
		}),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		fmt.Fprintf(log, "chromedp: "+format+"\n", args...)
	}))
	b := &browser{w: w, ctx: ctx, log: log}
	w.t.Cleanup(func() {
		stopped := make(chan struct{})
		go func() {
			cancelCtx()
			cancelAlloc() // waits for Chromium to exit and its profile to go
			close(stopped)
		}()
		t := time.NewTimer(15 * time.Second)
		defer t.Stop()
		select {
		case <-stopped:
		case <-t.C:
			if cmd != nil && cmd.Process != nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			<-stopped
		}
	})
	w.t.Cleanup(func() {
		if w.t.Failed() {
			w.t.Logf("----- chromium:\n%s", tailLines(log.String(), 30))
		}
	})
	// The first Run starts Chromium; its context must not have a deadline
	// (that would end the browser), so the start is bounded from here.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case err := <-started:
		if err != nil {
			w.fatalf("start Chromium: %v\n%s", err, log.String())
		}
	case <-t.C:
		cancelCtx()
		<-started
		w.fatalf("Chromium did not start within %v\n%s", startTimeout, log.String())
	}
	return b
}

// tailLines is the last n lines of s that say something: Chromium's
// complaints about the missing system D-Bus are dropped.
func tailLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if !strings.Contains(l, ":dbus/") && !strings.Contains(l, "unexpected operator") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// page is what the browser shows, as a person would tell the pages apart.
type page struct {
	// Kind is "login" (the IdP's form), "consent" (the team domain's
	// enrollment confirmation) or "page" (anything else).
	Kind  string `json:"kind"`
	Title string `json:"title"`
	URL   string `json:"url"`
	Error string `json:"error"`
	Text  string `json:"text"`
}

func (p page) String() string {
	return fmt.Sprintf("%s page %q at %s (error %q): %.300s", p.Kind, p.Title, p.URL, p.Error, p.Text)
}

// describePage reads the page by its stable element IDs (pkg/edge/idp and
// pkg/edge/access pages).
const describePage = `(() => {
  const q = (s) => document.querySelector(s);
  const text = (s) => { const e = q(s); return e ? e.textContent.trim() : ""; };
  return {
    kind: q("#password") && q("#submit") ? "login" : q("#consent") && q("#confirm") ? "consent" : "page",
    title: text("#title") || document.title,
    url: location.href,
    error: text("#error"),
    text: document.body ? document.body.innerText : "",
  };
})()`

// step bounds one browser action; the browser's own context has none.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// current describes the loaded page.
func (b *browser) current() page {
	b.w.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[page](describePage))
	if err != nil {
		b.w.fatalf("read the page in Chromium: %v", err)
	}
	return p
}

// open navigates to u (following its redirects until a page has loaded)
// and describes that page.
func (b *browser) open(u string) page {
	b.w.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		b.w.fatalf("Chromium: open %s: %v", u, err)
	}
	return b.current()
}

// login fills in the IdP's form like a person and submits it; it returns
// the page the browser lands on after the redirects.
func (b *browser) login(email, password string) page {
	b.w.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.Clear(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
	); err != nil {
		b.w.fatalf("Chromium: fill in the login form: %v", err)
	}
	// RunResponse waits for the navigation the click starts to load.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("submit"))); err != nil {
		// net::ERR_ABORTED here means Chromium refused to follow the
		// IdP's redirect, e.g. because of the page's CSP form-action.
		b.w.fatalf("Chromium: submit the login form: %v", err)
	}
	return b.current()
}

// confirm presses the enrollment confirmation's button.
func (b *browser) confirm() page {
	b.w.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("confirm"))); err != nil {
		b.w.fatalf("Chromium: confirm the registration: %v", err)
	}
	return b.current()
}
