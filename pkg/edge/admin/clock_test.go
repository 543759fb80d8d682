package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

type fixture struct {
	clk   *clock.Offset
	c     *Client
	saved []time.Duration
	// saveErr, when set, makes SaveOffset fail.
	saveErr error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clk: clock.NewOffset(clock.NewFake(epoch))}
	reg, err := registry.Open(registry.Options{Path: filepath.Join(t.TempDir(), "state", registry.FileName), Clock: f.clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	tok := secret.New("admin-token")
	srv := httptest.NewServer(New(Options{
		Registry: reg, Token: tok, Clock: f.clk,
		Reload: func(context.Context) control.ReloadResult { return control.ReloadResult{} },
		SaveOffset: func(d time.Duration) error {
			if f.saveErr != nil {
				return f.saveErr
			}
			f.saved = append(f.saved, d)
			return nil
		},
	}))
	t.Cleanup(srv.Close)
	f.c = &Client{BaseURL: srv.URL, Token: tok, HTTP: srv.Client()}
	return f
}

// post sends a raw advance, as a client other than ours could.
func (f *fixture) post(t *testing.T, advance string) error {
	t.Helper()
	return f.c.do(t.Context(), http.MethodPost, "/admin/v1/clock", control.ClockRequest{Advance: advance}, nil)
}

func wantRefused(t *testing.T, err error, status int, words ...string) {
	t.Helper()
	var apiErr *apierror.Error
	if !errors.As(err, &apiErr) || apiErr.Status != status {
		t.Fatalf("got %v, want an HTTP %d refusal", err, status)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("refusal %q does not say %q", err, w)
		}
	}
}

// TestClockAdvanceCannotOverflow reproduces issue 12 item 11: advancing by
// 2562047h (the largest Go duration in hours) and then by 1h wrapped the
// offset to the year 1734. Both steps are refused or bounded now, and the
// clock stays where it was.
func TestClockAdvanceCannotOverflow(t *testing.T) {
	f := newFixture(t)
	wantRefused(t, f.post(t, "2562047h"), http.StatusBadRequest, "100 years", "at most")
	if _, err := f.c.AdvanceClock(t.Context(), DefaultMaxOffset-time.Hour); err != nil {
		t.Fatalf("advance to an hour before the limit: %v", err)
	}
	wantRefused(t, f.post(t, "2h"), http.StatusBadRequest, "at most 1h0m0s")
	st, err := f.c.AdvanceClock(t.Context(), time.Hour)
	if err != nil {
		t.Fatalf("advance up to the limit: %v", err)
	}
	wantRefused(t, f.post(t, "1h"), http.StatusBadRequest, "at most 0s")
	wantRefused(t, f.post(t, "2562047h"), http.StatusBadRequest, "more than 292 years")
	if got := f.clk.Offset(); got != DefaultMaxOffset || !st.Now.Equal(epoch.Add(DefaultMaxOffset)) || st.Now.Year() < 2100 {
		t.Fatalf("offset %v, now %v: want the limit, in the future", got, st.Now)
	}
	if len(f.saved) != 2 || f.saved[1] != DefaultMaxOffset {
		t.Fatalf("saved offsets %v: only accepted advances are saved", f.saved)
	}
}

// TestClockAdvanceMustBePositive: negative, zero and malformed advances
// are refused with a message that says what to send.
func TestClockAdvanceMustBePositive(t *testing.T) {
	f := newFixture(t)
	for _, adv := range []string{"-1h", "0s", "", "2d", "-9223372036854775808ns"} {
		err := f.post(t, adv)
		wantRefused(t, err, http.StatusBadRequest)
		if !strings.Contains(err.Error(), "positive") && !strings.Contains(err.Error(), "not a duration") && !strings.Contains(err.Error(), "empty") {
			t.Errorf("advance %q: %v does not say what to send", adv, err)
		}
	}
	if f.clk.Offset() != 0 || len(f.saved) != 0 {
		t.Fatalf("the clock moved: offset %v, saved %v", f.clk.Offset(), f.saved)
	}
}

// TestClockAdvanceNotSavedIsNotMade reproduces the edge part of issue 12
// item 12: on a full disk the advance answered 200 but was lost at the
// next restart. Now the caller gets a 500 naming the file, and the clock
// does not move.
func TestClockAdvanceNotSavedIsNotMade(t *testing.T) {
	f := newFixture(t)
	if _, err := f.c.AdvanceClock(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	f.saveErr = errors.New("write /state/clock.offset: no space left on device")
	_, err := f.c.AdvanceClock(t.Context(), time.Hour)
	wantRefused(t, err, http.StatusInternalServerError, "not advanced", "/state/clock.offset", "no space left")
	if got := f.clk.Offset(); got != time.Hour {
		t.Fatalf("offset after a failed save: %v, want 1h", got)
	}
	st, err := f.c.Clock(t.Context())
	if err != nil || st.Offset != "1h0m0s" {
		t.Fatalf("GET clock: %+v %v", st, err)
	}
	f.saveErr = nil
	if st, err := f.c.AdvanceClock(t.Context(), time.Hour); err != nil || st.Offset != "2h0m0s" {
		t.Fatalf("advance once the disk has room: %+v %v", st, err)
	}
}

// TestParseAdvanceHintFitsTheInput: the hint names what the input got
// wrong and the duration to write, and speaks of days only when the
// input used them.
func TestParseAdvanceHintFitsTheInput(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"5 minutes", `("minutes" is not a unit): write 5m`},
		{"5minutes", `("minutes" is not a unit): write 5m`},
		{"1 hour 30 mins", `("hour" is not a unit): write 1h30m`},
		{"2 hrs", `("hrs" is not a unit): write 2h`},
		{"90 seconds", `("seconds" is not a unit): write 90s`},
		{"5 m", `(no spaces between a number and its unit): write 5m`},
		{"2d", `(there are no days: "d" is not a unit, only h, m and s are): write 48h`},
		{"1.5 days", `"days" is not a unit, only h, m and s are): write 36h`},
		{"3days", `write 72h`},
		{"2 weeks", `(there are no weeks: "weeks" is not a unit, only h, m and s are): write 336h`},
		{"5", `("5" has no unit): write 5m, 5h or 5s`},
		{"5 fortnights", `("fortnights" is not a unit; units are h, m and s): write e.g. 90m or 2h`},
		{"soon", `(write a number and a unit, such as 90m, 2h or 1h30m)`},
		{"9999999999h", `(it is too long: the simulated time may be at most 100 years`},
	} {
		_, err := ParseAdvance(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseAdvance(%q): %v; want %q", c.in, err, c.want)
			continue
		}
		usedDays := regexp.MustCompile(`[0-9]\s*d(ays?)?\b`).MatchString(c.in)
		if mentions := strings.Contains(err.Error(), `"d"`) || strings.Contains(err.Error(), "days"); mentions != usedDays {
			t.Errorf("ParseAdvance(%q): %v mentions days: %v; the input used them: %v", c.in, err, mentions, usedDays)
		}
	}
	for in, want := range map[string]time.Duration{"2h": 2 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute} {
		if d, err := ParseAdvance(in); err != nil || d != want {
			t.Errorf("ParseAdvance(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
}
