package termsafe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The attacks of item 4 of issue 12, and the other characters a terminal
// acts on.
var hostile = []string{
	"\x1b]52;c;ZWNobyBwd25lZA==\x07", // OSC 52: set the clipboard
	"\x1b[2J\x1b[H",                  // clear the screen
	"\x1b]0;title\x1b\\",             // retitle, ST-terminated
	"\u202eexample.com/\u202c",       // right-to-left override
	"\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
	"\u009b31m",       // 8-bit CSI
	"\u009d0;x\u009c", // 8-bit OSC and ST
	"a\rb",            // carriage return overwrites the line
	"\x7f\x00\x08",    // DEL, NUL, backspace
	"\xff\xfe",        // not UTF-8
}

func hasUnsafe(s string) bool {
	for _, r := range s {
		if Unsafe(r) {
			return true
		}
	}
	return !utf8.ValidString(s)
}

func TestLineAndTextEscapeEveryUnsafeCharacter(t *testing.T) {
	for _, in := range hostile {
		for name, f := range map[string]func(string) string{"Line": Line, "Text": Text} {
			out := f(in)
			if hasUnsafe(out) || strings.ContainsAny(out, "\x1b\x07\r") {
				t.Errorf("%s(%q) = %q still has unsafe characters", name, in, out)
			}
		}
	}
	if got := Line("\x1b[2J"); got != `\u001b[2J` {
		t.Errorf("Line(ESC [2J) = %q", got)
	}
	if got := Line("a\u202eb"); got != `a\u202eb` {
		t.Errorf("Line(RLO) = %q", got)
	}
	if got := Line("\xff"); got != `\xff` {
		t.Errorf("Line(0xff) = %q", got)
	}
	if got := Line("one\ntwo\tthree"); got != `one\ntwo`+"\tthree" {
		t.Errorf("Line keeps a newline: %q", got)
	}
	if got := Text("one\ntwo\tthree"); got != "one\ntwo\tthree" {
		t.Errorf("Text changes newlines or tabs: %q", got)
	}
	for _, ok := range []string{"", "plain ascii", "alice@acme.test", "Zoë — 東京 ✓", "http://acme.localhost:8781/x?y=1"} {
		if Line(ok) != ok {
			t.Errorf("Line(%q) = %q, want it unchanged", ok, Line(ok))
		}
	}
}

// JSON written through a Writer is still JSON and decodes to the same
// strings; encoding/json alone leaves DEL, C1 controls and bidi overrides
// raw, so --json output needs the Writer too.
func TestWriterKeepsJSONValid(t *testing.T) {
	in := map[string]string{}
	for i, s := range hostile[:len(hostile)-1] { // encoding/json replaces invalid UTF-8 itself
		in[string(rune('a'+i))] = s
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.ContainsRune(raw, 0x202e) || !bytes.ContainsRune(raw, 0x9b) {
		t.Fatalf("encoding/json escaped these itself now (%q); the Writer may no longer be needed for JSON", raw)
	}
	var buf bytes.Buffer
	if _, err := NewWriter(&buf).Write(raw); err != nil {
		t.Fatal(err)
	}
	if hasUnsafe(buf.String()) {
		t.Fatalf("JSON through the Writer still has unsafe characters: %q", buf.String())
	}
	var out map[string]string
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("JSON through the Writer is not JSON: %v\n%q", err, buf.String())
	}
	for k, v := range in {
		if out[k] != v {
			t.Errorf("%s: %q became %q", k, v, out[k])
		}
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Line(s), Text(s)} {
			for _, r := range out {
				if Unsafe(r) {
					t.Fatalf("%q: output %q has %U", s, out, r)
				}
			}
		}
		if strings.ContainsRune(Line(s), '\n') {
			t.Fatalf("Line(%q) has a newline", s)
		}
	})
}
