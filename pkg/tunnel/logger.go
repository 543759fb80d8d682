package tunnel

import (
	"fmt"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.zx2c4.com/wireguard/device"

	"github.com/ztagent/ztagent/internal/secret"
)

// deviceLog sends wireguard-go's printf-style logs to zap: verbose lines at
// debug, error lines at warn (they are mostly transient: a lost UDP packet,
// an unreachable endpoint). Lines are scrubbed of registered secrets here
// too, because the logger we are given may lack the guard that
// internal/logging installs.
type deviceLog struct {
	log *zap.Logger
	mu  sync.RWMutex
	off bool
}

func (d *deviceLog) logger() *device.Logger {
	logf := func(level zapcore.Level) func(string, ...any) {
		return func(format string, args ...any) {
			d.mu.RLock()
			defer d.mu.RUnlock()
			if d.off {
				return
			}
			if ce := d.log.Check(level, ""); ce != nil {
				ce.Message = secret.Scrub(fmt.Sprintf(format, args...))
				ce.Write()
			}
		}
	}
	return &device.Logger{Verbosef: logf(zapcore.DebugLevel), Errorf: logf(zapcore.WarnLevel)}
}

// silence drops every later line and returns once no line is being
// written. wireguard-go's encryption and decryption workers are not awaited
// by device.Close: they finish a moment later, as their queues drain, and
// their last log line must not reach a logger whose owner (a test, a
// closing daemon) has moved on.
func (d *deviceLog) silence() {
	d.mu.Lock()
	d.off = true
	d.mu.Unlock()
}
