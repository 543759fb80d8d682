package keyring

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// Options selects and configures a backend for Open.
type Options struct {
	// Backend is "auto", "system", "file" or "memory"; "" means "auto".
	Backend string
	// Service names the items in the system keyring ("ztagent").
	Service string
	// FileDir is the file backend's directory.
	FileDir string
	// ProbeTimeout bounds auto's check that the system keyring answers;
	// 3 seconds when zero.
	ProbeTimeout time.Duration
	// Logger receives one line saying which backend auto chose and why.
	Logger *zap.Logger
}

// probeKey is read (never written) to check that a system keyring answers.
const probeKey = "probe"

// Open returns the store named by opts.Backend. With "auto" it picks the
// system keyring when it answers a read within ProbeTimeout in this process's
// own session, and the file store otherwise, logging which and why (REL2).
func Open(ctx context.Context, opts Options) (Store, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	switch opts.Backend {
	case BackendSystem:
		return OpenSystem(opts.Service)
	case BackendFile:
		return OpenFile(opts.FileDir)
	case BackendMemory:
		return NewMemory(), nil
	case BackendAuto, "":
		s, why := probeSystem(ctx, opts)
		if s != nil {
			log.Info("keyring backend chosen", zap.String("backend", BackendSystem), zap.String("why", why))
			return s, nil
		}
		f, err := OpenFile(opts.FileDir)
		if err != nil {
			return nil, fmt.Errorf("keyring: the system keyring is not usable (%s) and the file store failed: %w", why, err)
		}
		log.Info("keyring backend chosen", zap.String("backend", BackendFile), zap.String("dir", f.Dir()),
			zap.String("why", "system keyring not usable: "+why))
		return f, nil
	default:
		return nil, fmt.Errorf("keyring: unknown backend %q: use auto, system, file or memory", opts.Backend)
	}
}

// probeSystem returns an answering system store, or nil and the reason.
func probeSystem(ctx context.Context, opts Options) (*System, string) {
	s, err := OpenSystem(opts.Service)
	if err != nil {
		return nil, err.Error()
	}
	timeout := opts.ProbeTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = s.Get(pctx, probeKey)
	if err == nil || errors.Is(err, ErrNotFound) {
		return s, "the system keyring answered within " + timeout.String()
	}
	_ = s.Close()
	return nil, err.Error()
}
