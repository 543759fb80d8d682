package wg

import (
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// logWatch is a debug logger whose entries a test can wait for, so that it
// can tell that the edge has seen (and dropped) something it cannot
// observe from the outside.
type logWatch struct {
	logs *observer.ObservedLogs

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every entry
}

func newLogWatch() (*zap.Logger, *logWatch) {
	core, logs := observer.New(zapcore.DebugLevel)
	w := &logWatch{logs: logs, changed: make(chan struct{})}
	// Hooks run after the observer has recorded the entry.
	log := zap.New(core, zap.Hooks(func(zapcore.Entry) error {
		w.mu.Lock()
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
		return nil
	}))
	return log, w
}

// count returns the entries whose message starts with msg and whose field
// key (if not "") is value.
func (w *logWatch) count(msg, key, value string) int {
	n := 0
	for _, e := range w.logs.All() {
		if !strings.HasPrefix(e.Message, msg) {
			continue
		}
		if key != "" {
			if v, ok := e.ContextMap()[key]; !ok || v != value {
				continue
			}
		}
		n++
	}
	return n
}

// wait waits until at least n entries match (see count).
func (w *logWatch) wait(t testing.TB, n int, msg, key, value string) {
	t.Helper()
	ctx := t.Context()
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		if got := w.count(msg, key, value); got >= n {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("logged %d entries %q with %s=%s; waited for %d", w.count(msg, key, value), msg, key, value, n)
		}
	}
}
