// Package logging builds ztagent's zap loggers: readable console lines when a
// person runs a program in the foreground, JSON when it runs as a service, and
// in both cases a guard that keeps secrets out of every line.
package logging

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ztagent/ztagent/internal/secret"
)

// Format selects how log lines are encoded.
type Format int

const (
	// Console is for people: time, level, logger name, message, fields.
	Console Format = iota
	// JSON is for journald and log shippers when running as a service.
	JSON
)

// Options configures New.
type Options struct {
	// Format of each line; Console by default.
	Format Format
	// Level is the lowest level written; Info by default.
	Level zapcore.Level
	// Output receives the lines; os.Stderr by default.
	Output io.Writer
}

// New returns a logger configured by opts, with the secret guard installed.
func New(opts Options) *zap.Logger {
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch opts.Format {
	case JSON:
		encCfg.TimeKey = "ts"
		enc = zapcore.NewJSONEncoder(encCfg)
	default:
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		encCfg.EncodeDuration = zapcore.StringDurationEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	}
	sink := zapcore.Lock(ScrubbingWriter(zapcore.AddSync(out)))
	core := zapcore.NewCore(enc, sink, opts.Level)
	return zap.New(Guard(core), zap.ErrorOutput(sink))
}

// ForProcess returns the logger a ztagent program should use: JSON when
// running as a service (no person reads it live), console otherwise.
func ForProcess(service bool, level zapcore.Level) *zap.Logger {
	f := Console
	if service {
		f = JSON
	}
	return New(Options{Format: f, Level: level})
}

// Guard wraps core so that fields whose value is a secret.Marker become
// "[REDACTED]" and strings, errors and messages are scrubbed of the values
// registered with package secret before they are encoded. It is the first of
// two layers: New also scrubs the encoded bytes (ScrubbingWriter), which
// catches every field type and encoding the field check cannot foresee
// (inline marshalers, verbose errors). Both sit below the logger, so a
// caller cannot forget them.
func Guard(core zapcore.Core) zapcore.Core { return guardCore{core} }

type guardCore struct{ zapcore.Core }

func (g guardCore) With(fields []zapcore.Field) zapcore.Core {
	return guardCore{g.Core.With(redactFields(fields))}
}

func (g guardCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if g.Enabled(e.Level) {
		return ce.AddCore(e, g)
	}
	return ce
}

func (g guardCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Message = secret.Scrub(e.Message)
	e.Stack = secret.Scrub(e.Stack)
	return g.Core.Write(e, redactFields(fields))
}

func redactFields(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		r, changed := redactField(f)
		if !changed {
			if out != nil {
				out[i] = f
			}
			continue
		}
		if out == nil {
			out = make([]zapcore.Field, len(fields))
			copy(out, fields[:i])
		}
		out[i] = r
	}
	if out == nil {
		return fields
	}
	return out
}

func redactField(f zapcore.Field) (zapcore.Field, bool) {
	if _, ok := f.Interface.(secret.Marker); ok {
		return zap.String(f.Key, secret.Redacted), true
	}
	switch f.Type {
	case zapcore.StringType:
		if secret.Contains(f.String) {
			return zap.String(f.Key, secret.Scrub(f.String)), true
		}
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok && err != nil && secret.Contains(err.Error()) {
			return zap.String(f.Key, secret.Scrub(err.Error())), true
		}
	case zapcore.StringerType:
		if s, ok := f.Interface.(fmt.Stringer); ok && secret.Contains(safeString(s)) {
			return zap.String(f.Key, secret.Scrub(safeString(s))), true
		}
	case zapcore.ByteStringType, zapcore.BinaryType:
		if b, ok := f.Interface.([]byte); ok && secret.Contains(string(b)) {
			return zap.String(f.Key, secret.Scrub(string(b))), true
		}
	case zapcore.ReflectType, zapcore.ArrayMarshalerType, zapcore.ObjectMarshalerType:
		// Structured values are encoded later by zap; render them now so the
		// scrubber sees exactly what would be written.
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		text := fmt.Sprint(enc.Fields[f.Key])
		if secret.Contains(text) {
			return zap.String(f.Key, secret.Scrub(text)), true
		}
	}
	return f, false
}

// safeString calls s.String, treating a panic (a nil pointer receiver, say)
// as an empty string, as zap itself does.
func safeString(s fmt.Stringer) (out string) {
	defer func() {
		if recover() != nil {
			out = ""
		}
	}()
	return s.String()
}

// ScrubbingWriter returns w with every registered secret removed from what
// is written to it: the last line of defence, applied to encoded log lines.
func ScrubbingWriter(w zapcore.WriteSyncer) zapcore.WriteSyncer { return scrubWriter{w} }

type scrubWriter struct{ zapcore.WriteSyncer }

func (s scrubWriter) Write(p []byte) (int, error) {
	clean := secret.ScrubBytes(p)
	if _, err := s.WriteSyncer.Write(clean); err != nil {
		return 0, err
	}
	return len(p), nil
}
