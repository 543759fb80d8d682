package session

import (
	"fmt"
	"time"
)

// ParseDuration parses a session duration as Cloudflare and its Terraform
// provider write them, Go duration syntax such as "1h30m0s" or "300s", and
// rejects zero, negative and malformed values with a message that names the
// value, says what in it is wrong and shows a valid one (S5).
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf(`session duration is empty; use a positive duration such as "1h30m0s" or "300s"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		hint, ok := DurationHint(s)
		if !ok {
			hint = "(it is too long for a duration: at most about 292 years)"
		}
		return 0, fmt.Errorf(`session duration %q is not a duration %s; use a positive duration such as "1h30m0s" or "300s"`, s, hint)
	}
	if d <= 0 {
		return 0, fmt.Errorf(`session duration %q must be positive; use a duration such as "1h30m0s" or "300s", or remove check_session for no limit`, s)
	}
	return d, nil
}
