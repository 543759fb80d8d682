package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
)

// userBrowser is the user's browser in the story: headless Chromium when
// the machine has it, else the scripted browser of the tests.
type userBrowser interface {
	// signIn opens u and, like a person, fills in the IdP's login form and
	// presses the enrollment confirmation when they appear. It returns how
	// many login forms were shown and the title of the page it ended on.
	signIn(ctx context.Context, u string) (forms int, title string, err error)
	name() string
	close()
}

var credentials = scriptbrowser.Credentials{Email: "alice@example.com", Password: "alice-demo-password"}

func newUserBrowser() (userBrowser, error) {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return newChromium(p)
		}
	}
	b, err := scriptbrowser.New(scriptbrowser.Options{})
	if err != nil {
		return nil, err
	}
	return scripted{b}, nil
}

type scripted struct{ b *scriptbrowser.Browser }

func (s scripted) name() string { return "the scripted browser (no Chromium on this machine)" }
func (s scripted) close()       { s.b.Close() }
func (s scripted) signIn(ctx context.Context, u string) (int, string, error) {
	res, err := s.b.Visit(ctx, u, scriptbrowser.VisitOptions{Login: &credentials})
	if err != nil {
		return 0, "", err
	}
	return res.FormsShown, title(res.Body), nil
}

type chromium struct {
	ctx    context.Context
	cancel func()
}

func newChromium(path string) (*chromium, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	c := &chromium{ctx: ctx, cancel: func() { cancelCtx(); cancelAlloc() }}
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	select {
	case err := <-started:
		if err != nil {
			c.close()
			return nil, fmt.Errorf("start Chromium: %w", err)
		}
	case <-time.After(30 * time.Second):
		c.close()
		return nil, errors.New("chromium did not start within 30 s")
	}
	return c, nil
}

func (c *chromium) name() string { return "headless Chromium" }
func (c *chromium) close()       { c.cancel() }

func (c *chromium) signIn(ctx context.Context, u string) (int, string, error) {
	step, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(step, chromedp.Navigate(u)); err != nil {
		return 0, "", err
	}
	forms := 0
	for range 5 {
		hasForm, err := chromedp.Run(step, chromedp.Evaluate[bool](`!!document.getElementById("password")`))
		if err != nil {
			return forms, "", err
		}
		hasConfirm, err := chromedp.Run(step, chromedp.Evaluate[bool](`!!document.getElementById("confirm")`))
		if err != nil {
			return forms, "", err
		}
		t, err := chromedp.Run(step, chromedp.Evaluate[string](`document.title`))
		if err != nil {
			return forms, "", err
		}
		switch {
		case hasForm:
			forms++
			if err := chromedp.Do(step,
				chromedp.WaitVisible(chromedp.ID("email")),
				chromedp.Clear(chromedp.ID("email")),
				chromedp.SendKeys(chromedp.ID("email"), credentials.Email),
				chromedp.SendKeys(chromedp.ID("password"), credentials.Password)); err != nil {
				return forms, "", err
			}
			if _, err := chromedp.RunResponse(step, chromedp.Click(chromedp.ID("submit"))); err != nil {
				return forms, "", err
			}
		case hasConfirm:
			if _, err := chromedp.RunResponse(step, chromedp.Click(chromedp.ID("confirm"))); err != nil {
				return forms, "", err
			}
		default:
			return forms, t, nil
		}
	}
	return forms, "", errors.New("the sign-in did not end after five pages")
}
