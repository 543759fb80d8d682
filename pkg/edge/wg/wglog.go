package wg

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.zx2c4.com/wireguard/device"

	"github.com/ztagent/ztagent/internal/logging"
)

// deviceLogger returns the logger for the edge's wireguard-go device: its
// printf-style lines go to log's "wireguard" child, verbose ones at debug
// and errors at warn (mostly transient: a lost packet, a stale handshake).
//
// The lines are formatted by wireguard-go's callers, out of reach of the
// field checks, and the logger we are given need not come from
// internal/logging.New: so its core is wrapped in logging.Guard here,
// which scrubs every registered secret from the formatted message before
// any encoder or sink sees it.
func deviceLogger(log *zap.Logger) *device.Logger {
	sugar := log.Named("wireguard").
		WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return logging.Guard(c) })).
		Sugar()
	return &device.Logger{Verbosef: sugar.Debugf, Errorf: sugar.Warnf}
}
