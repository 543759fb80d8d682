// Package secret holds values that must never be printed: device tokens,
// WireGuard private keys, enrollment codes, passwords. A Value prints, formats
// and marshals as "[REDACTED]"; only Reveal returns the text, and every value
// made with New is remembered so that the logger can scrub it from any line
// that carries it by accident (SEC5).
package secret

import (
	"strings"
	"sync"
)

// Redacted is what a Value shows instead of its text.
const Redacted = "[REDACTED]"

// Value is a string that cannot be printed by accident. The zero Value is
// empty.
type Value struct {
	s string
}

// New returns a Value holding s and registers s with the process-wide scrubber.
func New(s string) Value {
	remember(s)
	return Value{s: s}
}

// Reveal returns the secret text; call it only where the secret is sent to
// its one rightful destination (a keyring, an Authorization header, a
// WireGuard device).
func (v Value) Reveal() string { return v.s }

// IsZero reports whether v holds no secret.
func (v Value) IsZero() bool { return v.s == "" }

// Equal reports whether v and o hold the same secret.
func (v Value) Equal(o Value) bool { return v.s == o.s }

// String returns "[REDACTED]", or "" for the zero Value.
func (v Value) String() string {
	if v.s == "" {
		return ""
	}
	return Redacted
}

// GoString returns the redacted form, so %#v does not leak either.
func (v Value) GoString() string { return "secret.Value(" + v.String() + ")" }

// MarshalText returns the redacted form, so JSON, YAML and zap's reflection
// encoder never see the secret.
func (v Value) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// IsSecret marks Value for the logger's guard.
func (Value) IsSecret() {}

// Marker is implemented by every type whose values must never be logged.
type Marker interface{ IsSecret() }

// minScrubLen keeps the scrubber from replacing short, common substrings.
const minScrubLen = 6

// maxRemembered bounds the scrubber's memory in long-running processes that
// mint many secrets (the edge simulator issues a token per device).
const maxRemembered = 4096

var registry struct {
	sync.RWMutex
	values map[string]struct{}
	order  []string
}

func remember(s string) {
	if len(s) < minScrubLen {
		return
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.values == nil {
		registry.values = make(map[string]struct{})
	}
	if _, ok := registry.values[s]; ok {
		return
	}
	if len(registry.order) >= maxRemembered {
		delete(registry.values, registry.order[0])
		registry.order = registry.order[1:]
	}
	registry.values[s] = struct{}{}
	registry.order = append(registry.order, s)
}

// Scrub returns s with every registered secret replaced by "[REDACTED]".
func Scrub(s string) string {
	registry.RLock()
	defer registry.RUnlock()
	for v := range registry.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// Contains reports whether s carries any registered secret.
func Contains(s string) bool {
	registry.RLock()
	defer registry.RUnlock()
	for v := range registry.values {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}
