// Package termsafe makes text that comes from outside (agentd's answers,
// which carry what the edge, an IdP or an enrollment callback put there)
// safe to print on a terminal: control characters and bidirectional
// overrides are replaced by visible escapes, so that such text can neither
// drive the terminal (ANSI/OSC escape sequences: clear the screen, set the
// clipboard with OSC 52, retitle the window) nor make what a person reads
// differ from what is there (a right-to-left override reversing a URL).
//
// Every escape has the form \uXXXX (or \xNN for a byte that is not UTF-8),
// which is also a valid JSON string escape: JSON written through a Writer
// stays JSON, and means the same.
package termsafe

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Line returns s for printing inside one line: every unsafe character
// escaped, a newline as \n, and a tab kept.
func Line(s string) string { return escape(s, false) }

// Text returns s for printing as text of several lines: every unsafe
// character escaped; newlines and tabs kept.
func Text(s string) string { return escape(s, true) }

// Unsafe reports whether r may not reach a terminal as is: C0 controls
// other than tab and newline (ESC and carriage return among them), DEL,
// C1 controls (U+0080–U+009F: 8-bit CSI, OSC and the like), and the
// Unicode bidirectional controls.
func Unsafe(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	}
	return isBidiControl(r)
}

// isBidiControl reports whether r is one of Unicode's explicit
// bidirectional formatting characters (UAX #9): embeddings, overrides,
// isolates and the directional marks.
func isBidiControl(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

const hexDigits = "0123456789abcdef"

func escape(s string, keepNewlines bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[s[i]>>4])
			b.WriteByte(hexDigits[s[i]&0xf])
		case r == '\n' && !keepNewlines:
			b.WriteString(`\n`)
		case Unsafe(r):
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hexDigits[(r>>uint(shift))&0xf])
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Writer passes what is written to it on as Text would print it. Each
// Write is escaped on its own: a character split across two writes shows
// as escaped bytes, which fmt's printers and encoding/json never do.
type Writer struct{ w io.Writer }

// NewWriter returns a Writer onto w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write escapes p and writes it; it reports len(p) on success, as the
// bytes of p were all consumed.
func (w *Writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(w.w, escape(string(p), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}
