// Package scriptbrowser is a scripted web browser for tests: an HTTP client
// with a cookie jar that follows redirects one by one, resolves *.localhost
// names to loopback listeners, fills the IdP's login form (#email,
// #password) and stops before it would load a given URL, such as an agent's
// loopback enrollment callback. It does what a person with a real browser
// does in the sign-in flows, without JavaScript.
package scriptbrowser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// Limits of one Visit.
const (
	defaultMaxSteps = 20      // requests, redirects and form posts together
	maxBodyBytes    = 1 << 20 // of any one page
)

// Options configures New.
type Options struct {
	// Hosts maps names to loopback listeners; names under .localhost need
	// no entry when their port is the listener's.
	Hosts Hosts
	// StopAt lists URL prefixes the browser does not load: a redirect to
	// one of them ends the visit with Result.Stopped set.
	StopAt []string
	// MaxSteps bounds the requests of one Visit; 20 when zero.
	MaxSteps int
}

// VisitOptions say how one Visit behaves.
type VisitOptions struct {
	// Login, when set, is typed into the first login form shown.
	Login *Credentials
	// StopAt adds URL prefixes to the browser's own for this visit.
	StopAt []string
	// DeclineConsent ends the visit at a confirmation page (#consent with a
	// #confirm button) instead of pressing the button, as a careful person
	// would when they did not start the registration.
	DeclineConsent bool
}

// Credentials are what the browser types into a login form.
type Credentials struct {
	Email    string
	Password string
}

// Browser is a scripted browser. Its cookie jar persists across visits, so
// an IdP session made by one visit is reused by the next, as in a real
// browser. It is not safe for concurrent visits.
type Browser struct {
	client   *http.Client
	stopAt   []string
	maxSteps int
}

// Result is where a visit ended and what it went through.
type Result struct {
	// URL is the stop URL when Stopped, else the URL of the last page.
	URL string
	// Stopped reports whether the visit ended at a StopAt prefix; URL was
	// then not loaded.
	Stopped bool
	// Status and Body are the last page's, when not Stopped.
	Status int
	Body   string
	// Visited lists every URL requested, in order.
	Visited []string
	// FormsShown counts the login forms the browser saw; FormsSubmitted
	// those it filled in and posted.
	FormsShown     int
	FormsSubmitted int
	// Confirmations counts the confirmation pages the browser saw.
	Confirmations int
	// ErrorText is the text of the last page's #error element, or "".
	ErrorText string
}

// FormShown reports whether a login form was shown during the visit.
func (r *Result) FormShown() bool { return r.FormsShown > 0 }

// Query returns the query parameters of URL: the code and state an agent's
// callback would receive, for instance.
func (r *Result) Query() url.Values {
	u, err := url.Parse(r.URL)
	if err != nil {
		return url.Values{}
	}
	return u.Query()
}

// New returns a browser with an empty cookie jar.
func New(opts Options) (*Browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	b := &Browser{stopAt: opts.StopAt, maxSteps: opts.MaxSteps}
	if b.maxSteps <= 0 {
		b.maxSteps = defaultMaxSteps
	}
	b.client = &http.Client{
		Transport: opts.Hosts.Transport(),
		Jar:       jar,
		// Redirects are followed by Visit, so that each target can be
		// checked against StopAt before anything is dialled.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return b, nil
}

// Client returns the browser's HTTP client (same jar and dialer), which
// does not follow redirects, for tests that craft requests themselves.
func (b *Browser) Client() *http.Client { return b.client }

// Cookies returns the cookies the browser would send to rawURL.
func (b *Browser) Cookies(rawURL string) []*http.Cookie {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	return b.client.Jar.Cookies(u)
}

// Close closes the browser's idle connections.
func (b *Browser) Close() { b.client.CloseIdleConnections() }

// Visit loads rawURL and follows redirects. When a page holds a login form
// (inputs #email and #password, button #submit) it fills in opts.Login and
// submits it, once; a form shown again after that, or any form when Login is
// nil, ends the
// visit with that page. Any other page that is not a redirect ends the
// visit too. Errors are transport failures and runaway redirect chains; a
// refusal page is a Result with its status.
func (b *Browser) Visit(ctx context.Context, rawURL string, opts VisitOptions) (*Result, error) {
	res := &Result{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	var body []byte // the request body, kept for 307/308
	for step := 0; ; step++ {
		if step >= b.maxSteps {
			return res, fmt.Errorf("scriptbrowser: more than %d steps from %s; last URL %s", b.maxSteps, rawURL, req.URL)
		}
		if b.stops(req.URL.String(), opts.StopAt) {
			res.URL, res.Stopped = req.URL.String(), true
			return res, nil
		}
		res.Visited = append(res.Visited, req.URL.String())
		resp, err := b.client.Do(req)
		if err != nil {
			return res, err
		}
		page, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
		_ = resp.Body.Close()
		if err != nil {
			return res, fmt.Errorf("scriptbrowser: reading %s: %w", req.URL, err)
		}
		res.URL, res.Status, res.Body = req.URL.String(), resp.StatusCode, string(page)
		res.ErrorText = ""

		if loc := resp.Header.Get("Location"); loc != "" && isRedirect(resp.StatusCode) {
			next, err := req.URL.Parse(loc)
			if err != nil {
				return res, fmt.Errorf("scriptbrowser: bad Location %q from %s: %w", loc, req.URL, err)
			}
			method := http.MethodGet
			var nb []byte
			if resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusPermanentRedirect {
				method, nb = req.Method, body
			}
			if req, err = newRequest(ctx, method, next.String(), nb, req.Header.Get("Content-Type")); err != nil {
				return res, err
			}
			body = nb
			continue
		}

		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return res, nil
		}
		doc, err := html.Parse(bytes.NewReader(page))
		if err != nil {
			return res, nil
		}
		res.ErrorText = errorText(doc)
		form := findLoginForm(doc)
		if form == nil {
			consent := findConsentForm(doc)
			if consent == nil {
				return res, nil
			}
			res.Confirmations++
			if opts.DeclineConsent || res.Confirmations > 1 {
				return res, nil
			}
			if req, body, err = b.post(ctx, req.URL, consent); err != nil {
				return res, err
			}
			continue
		}
		res.FormsShown++
		if opts.Login == nil || res.FormsSubmitted > 0 {
			return res, nil
		}
		req, body, err = b.submit(ctx, req.URL, form, *opts.Login)
		if err != nil {
			return res, err
		}
		res.FormsSubmitted++
	}
}

// submit builds the POST (or GET) a browser sends when the form is filled
// in with login and its submit button pressed.
func (b *Browser) submit(ctx context.Context, page *url.URL, f *loginForm, login Credentials) (*http.Request, []byte, error) {
	if f.emailName == "" || f.passwordName == "" || !f.submitPresent {
		return nil, nil, errors.New("scriptbrowser: the login form lacks a named #email or #password input or a #submit button")
	}
	f.fields.Set(f.emailName, login.Email)
	f.fields.Set(f.passwordName, login.Password)
	return b.post(ctx, page, f)
}

// post builds the request a browser sends when f's button is pressed.
func (b *Browser) post(ctx context.Context, page *url.URL, f *loginForm) (*http.Request, []byte, error) {
	target, err := page.Parse(f.action)
	if err != nil {
		return nil, nil, fmt.Errorf("scriptbrowser: form action %q: %w", f.action, err)
	}
	enc := f.fields.Encode()
	if f.method == http.MethodGet {
		target.RawQuery = enc
		req, err := newRequest(ctx, http.MethodGet, target.String(), nil, "")
		return req, nil, err
	}
	req, err := newRequest(ctx, http.MethodPost, target.String(), []byte(enc), "application/x-www-form-urlencoded")
	if err != nil {
		return nil, nil, err
	}
	// A browser names the page's origin on a form POST; the IdP checks it.
	req.Header.Set("Origin", page.Scheme+"://"+page.Host)
	return req, []byte(enc), nil
}

func newRequest(ctx context.Context, method, target string, body []byte, contentType string) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return nil, err
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

func (b *Browser) stops(u string, extra []string) bool {
	for _, p := range append(b.stopAt[:len(b.stopAt):len(b.stopAt)], extra...) {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}
