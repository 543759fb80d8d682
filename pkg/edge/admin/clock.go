package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/internal/httpapi"
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

// unitAliases are the words people write for Go's duration units.
var unitAliases = map[string]string{
	"sec": "s", "secs": "s", "second": "s", "seconds": "s",
	"min": "m", "mins": "m", "minute": "m", "minutes": "m",
	"hr": "h", "hrs": "h", "hour": "h", "hours": "h",
}

// hoursPer are the units Go has no letter for, in hours.
var hoursPer = map[string]float64{
	"d": 24, "day": 24, "days": 24,
	"w": 7 * 24, "wk": 7 * 24, "week": 7 * 24, "weeks": 7 * 24,
}

// goUnits are time.ParseDuration's units.
var goUnits = map[string]bool{"ns": true, "us": true, "µs": true, "μs": true, "ms": true, "s": true, "m": true, "h": true}

// advanceHint explains, from what s actually contains, why
// time.ParseDuration refused it and what to write instead: "5 minutes"
// gets `("minutes" is not a unit): write 5m`, and only an input that used
// days hears that there is no "d".
func advanceHint(s string) string {
	terms, ok := durationTerms(s)
	if !ok {
		return `(write a number and a unit, such as 90m, 2h or 1h30m)`
	}
	var why string
	var fixed strings.Builder
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		fixed.WriteByte('-')
	}
	for _, t := range terms {
		unit := strings.ToLower(t.unit)
		switch {
		case t.unit == "":
			if why == "" {
				why = fmt.Sprintf("(%q has no unit): write %sm, %sh or %ss", t.num, t.num, t.num, t.num)
			}
			fixed.WriteString(t.num + "m")
		case goUnits[t.unit]:
			fixed.WriteString(t.num + t.unit)
		case unitAliases[unit] != "":
			if why == "" {
				why = fmt.Sprintf("(%q is not a unit)", t.unit)
			}
			fixed.WriteString(t.num + unitAliases[unit])
		case hoursPer[unit] != 0:
			if why == "" {
				what := "days"
				if hoursPer[unit] != 24 {
					what = "weeks"
				}
				why = fmt.Sprintf(`(there are no %s: %q is not a unit, only h, m and s are)`, what, t.unit)
			}
			n, _ := strconv.ParseFloat(t.num, 64)
			fixed.WriteString(strconv.FormatFloat(n*hoursPer[unit], 'f', -1, 64) + "h")
		default:
			if why == "" {
				why = fmt.Sprintf(`(%q is not a unit; units are h, m and s): write e.g. 90m or 2h`, t.unit)
			}
			fixed.WriteString(t.num + "m")
		}
	}
	if strings.Contains(why, "): write ") {
		return why
	}
	if why == "" {
		if strings.ContainsAny(s, " \t") {
			why = "(no spaces between a number and its unit)"
		} else {
			// Every unit is Go's and there are no spaces: the number
			// is too large for a duration (about 292 years).
			return fmt.Sprintf("(it is too long: the simulated time may be at most %s ahead in total)", years(DefaultMaxOffset))
		}
	}
	return why + ": write " + fixed.String()
}

// term is a number and the unit written after it.
type term struct{ num, unit string }

// durationTerms splits s, such as "1 hour 30 minutes", into its numbers
// and units, ignoring spaces and a leading sign; ok is false when s has
// anything else.
func durationTerms(s string) (terms []term, ok bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimLeft(s, "+-")
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i < 0 {
			i = len(s)
		}
		if i == 0 {
			return nil, false
		}
		num := s[:i]
		s = strings.TrimSpace(s[i:])
		j := strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == 'µ' || r == 'μ')
		})
		if j < 0 {
			j = len(s)
		}
		terms = append(terms, term{num: num, unit: s[:j]})
		s = s[j:]
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		}
	}
	return terms, len(terms) > 0
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
