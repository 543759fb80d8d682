package session

import (
	"fmt"
	"time"
)

// ParseDuration parses a session duration as Cloudflare and its Terraform
// provider write them, Go duration syntax such as "1h30m0s" or "300s", and
// rejects zero, negative and malformed values with a message that names the
// value and shows a valid one (S5).
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf(`session duration is empty; use a positive duration such as "1h30m0s" or "300s"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf(`session duration %q is not a duration (units are h, m, s, ms; there is no "d"); use a positive duration such as "1h30m0s" or "300s"`, s)
	}
	if d <= 0 {
		return 0, fmt.Errorf(`session duration %q must be positive; use a duration such as "1h30m0s" or "300s", or remove check_session for no limit`, s)
	}
	return d, nil
}
