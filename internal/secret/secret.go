// Package secret holds values that must never be printed: device tokens,
// WireGuard private keys, enrollment codes, passwords. A Value prints, formats
// and marshals as "[REDACTED]"; only Reveal returns the text, and every value
// made with New is remembered so that the logger can scrub it from any line
// that carries it by accident (SEC5).
package secret

import (
	"bytes"
	"crypto/subtle"
	"sort"
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

// Wrap returns a Value for text the program neither made nor verified, such
// as a bearer token a client presented: it prints and marshals redacted
// like any Value, but it is not remembered by the scrubber, which holds a
// bounded number of values and must not be flooded with a stranger's
// guesses (they would push out the real secrets).
func Wrap(s string) Value { return Value{s: s} }

// Reveal returns the secret text; call it only where the secret is sent to
// its one rightful destination (a keyring, an Authorization header, a
// WireGuard device).
func (v Value) Reveal() string { return v.s }

// IsZero reports whether v holds no secret.
func (v Value) IsZero() bool { return v.s == "" }

// Equal reports whether v and o hold the same secret, in time that does not
// depend on where they differ (SEC7: device tokens are compared this way).
func (v Value) Equal(o Value) bool {
	return subtle.ConstantTimeCompare([]byte(v.s), []byte(o.s)) == 1
}

// AlsoScrub registers other encodings of the secret (the hex form of a key
// that is usually base64, say) so the scrubber removes them too.
func (v Value) AlsoScrub(forms ...string) {
	for _, f := range forms {
		remember(f)
	}
}

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
// encoder never see the secret. Marshalling therefore loses the secret:
// whatever must persist it (the keyring store) writes Reveal explicitly.
func (v Value) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText accepts the secret in clear, as a control-API response
// carries it, and registers it with the scrubber.
func (v *Value) UnmarshalText(b []byte) error {
	*v = New(string(b))
	return nil
}

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
	order  []string // insertion order, for eviction
	// byLength lists the values longest first, so that a secret containing
	// another is replaced whole rather than leaving its remainder visible.
	byLength []string
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
	registry.byLength = registry.byLength[:0]
	for v := range registry.values {
		registry.byLength = append(registry.byLength, v)
	}
	sort.Slice(registry.byLength, func(i, j int) bool { return len(registry.byLength[i]) > len(registry.byLength[j]) })
}

// Scrub returns s with every registered secret replaced by "[REDACTED]",
// longest secrets first.
func Scrub(s string) string {
	registry.RLock()
	defer registry.RUnlock()
	for _, v := range registry.byLength {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// ScrubBytes is Scrub for encoded output; it returns b itself when b holds
// no secret, so the common case does not allocate.
func ScrubBytes(b []byte) []byte {
	registry.RLock()
	defer registry.RUnlock()
	out := b
	for _, v := range registry.byLength {
		if bytes.Contains(out, []byte(v)) {
			out = bytes.ReplaceAll(out, []byte(v), []byte(Redacted))
		}
	}
	return out
}

// Contains reports whether s carries any registered secret.
func Contains(s string) bool {
	registry.RLock()
	defer registry.RUnlock()
	for _, v := range registry.byLength {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}
