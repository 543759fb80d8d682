package admin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
	"github.com/ztagent/ztagent/pkg/session"
)

// DefaultMaxOffset is how far the simulated time may be ahead of the real
// clock in total: a hundred years is more than any session a demo shows,
// and keeps the simulated date far from where time.Time arithmetic
// overflows (an offset near 292 years wraps time.Duration and sends the
// clock to the 18th century, a state edged then refuses to start with).
const DefaultMaxOffset = 100 * 365 * 24 * time.Hour

// ParseAdvance parses the duration of a clock advance, such as "2h" or
// "90m". It must be positive: simulated time only moves forward. edged's
// CLI checks with it before calling the API, and the API checks again.
func ParseAdvance(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case strings.TrimSpace(s) == "":
		return 0, fmt.Errorf(`the advance is empty; give a positive duration such as "2h" or "90m"`)
	case err != nil:
		return 0, fmt.Errorf("advance %q is not a duration %s", s, advanceHint(s))
	case d <= 0:
		return 0, fmt.Errorf(`advance %q is not positive: simulated time only moves forward; give a duration such as "2h"`, s)
	}
	return d, nil
}

// advanceHint is session.DurationHint, with what is left when the input
// is spelt right: it is too long for a duration.
func advanceHint(s string) string {
	if h, ok := session.DurationHint(s); ok {
		return h
	}
	return fmt.Sprintf("(it is too long: the simulated time may be at most %s ahead in total)", years(DefaultMaxOffset))
}

// CheckAdvance returns an error when moving a clock that is offset ahead
// of the real one by a further advance would take it past limit, or when
// advance is not positive. It never computes a sum that could overflow.
func CheckAdvance(offset, advance, limit time.Duration) error {
	if advance <= 0 {
		return fmt.Errorf("advance %v is not positive: simulated time only moves forward", advance)
	}
	if offset < 0 || offset > limit || advance > limit-offset {
		return fmt.Errorf("advancing by %v would put the simulated time %v ahead of the real clock, past the limit of %v; advance by at most %v",
			advance, offsetSum(offset, advance), years(limit), max(0, limit-offset))
	}
	return nil
}

// years describes d in years when it is a whole number of them.
func years(d time.Duration) string {
	const year = 365 * 24 * time.Hour
	if d >= year && d%year == 0 {
		return fmt.Sprintf("%d years (%v)", d/year, d)
	}
	return d.String()
}

// offsetSum describes offset+advance for a message, without wrapping.
func offsetSum(offset, advance time.Duration) string {
	if advance > time.Duration(1<<63-1)-offset {
		return "more than 292 years"
	}
	return (offset + advance).String()
}

func (s *Server) clockState() control.ClockState {
	return control.ClockState{Now: s.opts.Clock.Now(), Offset: s.opts.Clock.Offset().String()}
}

func (s *Server) getClock(w http.ResponseWriter, _ *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, s.clockState())
}

// advanceClock checks the advance, saves the new offset, and only then
// moves the clock: an advance that is not saved does not happen.
func (s *Server) advanceClock(w http.ResponseWriter, r *http.Request) {
	var req control.ClockRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := ParseAdvance(req.Advance)
	if err != nil {
		s.fail(w, r, httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest, `send {"advance":"2h"}: a positive duration`, "%v", err))
		return
	}
	s.clockMu.Lock()
	cur := s.opts.Clock.Offset()
	if err := CheckAdvance(cur, d, s.opts.MaxOffset); err != nil {
		s.clockMu.Unlock()
		s.fail(w, r, httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest, "", "%v", err))
		return
	}
	if s.opts.SaveOffset != nil {
		if err := s.opts.SaveOffset(cur + d); err != nil {
			s.clockMu.Unlock()
			s.log.Error("the simulated time was not advanced: saving it failed", zap.Duration("by", d), zap.Error(err))
			s.fail(w, r, httpapi.Errorf(http.StatusInternalServerError, control.CodeInternal,
				"free space or fix the permissions of the state directory, then advance again",
				"the simulated time was not advanced, because it could not be saved: %v", err))
			return
		}
	}
	err = s.opts.Clock.Advance(d)
	st := s.clockState()
	s.clockMu.Unlock()
	if err != nil { // only for a negative d, refused above
		s.fail(w, r, httpapi.Errorf(http.StatusBadRequest, control.CodeBadRequest, "", "%v", err))
		return
	}
	if _, err := s.opts.Registry.Audit(r.Context(), "clock_advanced", "admin", "", map[string]any{"advance": d.String(), "now": st.Now, "offset": st.Offset}); err != nil {
		s.log.Error("writing the audit log", zap.Error(err))
	}
	s.log.Info("simulated time advanced", zap.Duration("by", d), zap.Time("now", st.Now))
	if s.opts.OnClockAdvanced != nil {
		s.opts.OnClockAdvanced()
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
}
