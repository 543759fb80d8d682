package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ztagent/ztagent/internal/secret"
)

type tokenHolder struct {
	Device string       `json:"device"`
	Token  secret.Value `json:"token"`
	Raw    string       `json:"raw"`
}

type stringer struct{ s string }

type inlineHolder struct{ tok string }

func (h inlineHolder) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("inline_token", h.tok)
	return nil
}

// verboseErr shows the secret only in its %+v form, which zap logs as
// errorVerbose.
type verboseErr struct{ tok string }

func (verboseErr) Error() string { return "request failed" }
func (e verboseErr) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('+') {
		fmt.Fprintf(f, "request failed with token %s", e.tok)
		return
	}
	fmt.Fprint(f, e.Error())
}

func (s stringer) String() string { return s.s }

func TestGuardKeepsSecretsOutOfEveryFieldKind(t *testing.T) {
	const canary = "CANARY-7d1e0b4f-device-token"
	v := secret.New(canary)
	for _, format := range []Format{Console, JSON} {
		var buf bytes.Buffer
		log := New(Options{Format: format, Output: &buf, Level: zapcore.DebugLevel})
		log = log.With(zap.String("ctx", "token="+canary))
		log.Info("registered with "+canary,
			zap.Any("value", v),
			zap.Stringer("stringer", v),
			zap.String("revealed", v.Reveal()),
			zap.Error(errors.New("upstream said "+canary)),
			zap.Stringer("wrapped", stringer{"x" + canary}),
			zap.ByteString("bytes", []byte(canary)),
			zap.Any("struct", tokenHolder{Device: "d1", Token: v, Raw: canary}),
			zap.Strings("list", []string{"a", canary}),
			zap.Inline(inlineHolder{canary}),
			zap.Error(verboseErr{canary}),
			zap.Any("bytes_in_struct", struct{ Code []byte }{[]byte(canary)}),
		)
		log.Sugar().Infof("sugar %v %s", v, canary)
		out := buf.String()
		if strings.Contains(out, canary) {
			t.Fatalf("format %d leaked the canary:\n%s", format, out)
		}
		if !strings.Contains(out, secret.Redacted) {
			t.Fatalf("format %d shows no redaction marker:\n%s", format, out)
		}
		if !strings.Contains(out, "d1") {
			t.Fatalf("format %d lost non-secret data:\n%s", format, out)
		}
	}
}

func TestJSONFormatIsOneObjectPerLine(t *testing.T) {
	var buf bytes.Buffer
	log := New(Options{Format: JSON, Output: &buf})
	log.Info("hello", zap.Int("n", 3))
	log.Debug("hidden at info level")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 line, got %d: %q", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if m["msg"] != "hello" || m["n"] != float64(3) || m["level"] != "info" || m["ts"] == nil {
		t.Fatalf("unexpected object %v", m)
	}
}

func TestConsoleFormatIsReadable(t *testing.T) {
	var buf bytes.Buffer
	New(Options{Output: &buf}).Named("keyring").Info("backend chosen", zap.String("backend", "file"))
	out := buf.String()
	for _, want := range []string{"INFO", "keyring", "backend chosen", `"backend": "file"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("console line %q lacks %q", out, want)
		}
	}
}

func TestRedactFieldsLeavesCleanFieldsAlone(t *testing.T) {
	fields := []zapcore.Field{zap.String("a", "b"), zap.Int("n", 1)}
	got := redactFields(fields)
	if &got[0] != &fields[0] {
		t.Fatal("clean fields were copied")
	}
}
