package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/paths"
	"github.com/ztagent/ztagent/pkg/mdm"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

// defaultMDMFile is where the system service reads Cloudflare's
// managed-deployment file; a user's agentd reads one only when told.
func defaultMDMFile() string {
	if os.Geteuid() == 0 {
		return filepath.Join(paths.SystemStateDir, "mdm.xml")
	}
	return ""
}

// mdmReader reads the MDM file and keeps the last good settings: a file
// that breaks later is reported with its line and changes nothing.
type mdmReader struct {
	path string
	log  *zap.Logger
	good *mdm.Settings
}

// read returns the settings in force after reading the file again: the
// new ones, nil when the file is gone, or the last good ones (with the
// error) when it cannot be used.
func (r *mdmReader) read() (*mdm.Settings, error) {
	if r.path == "" {
		return nil, nil
	}
	s, err := mdm.ReadFile(r.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if r.good != nil {
			r.log.Info("the MDM file is gone; its settings no longer apply", zap.String("mdm", r.path))
		}
		r.good = nil
		return nil, nil
	case err != nil:
		if r.good != nil {
			err = fmt.Errorf("%w (agentd keeps the settings it read before)", err)
		}
		r.log.Error("the MDM file cannot be used", zap.Error(err))
		return r.good, err
	}
	if fi, serr := os.Stat(r.path); serr == nil && fi.Mode().Perm()&0o077 != 0 && s.HasServiceToken() {
		r.log.Warn("the MDM file holds a service token secret and is readable by other users; run chmod 600 on it", zap.String("mdm", r.path))
	}
	for _, k := range s.Ignored {
		r.log.Info("mdm.xml key not applied by ztagent", zap.String("key", k))
	}
	r.log.Info("read the MDM file", zap.String("mdm", r.path), zap.String("organization", s.Organization),
		zap.Bool("service_token", s.HasServiceToken()), zap.String("service_mode", s.ServiceMode))
	r.good = s
	return s, nil
}

// applyMDM lets the MDM file's organization, service_mode and proxy_port
// decide what the command line left at its defaults; a flag given
// explicitly wins, with a warning.
func (c *runConfig) applyMDM(s *mdm.Settings, changed func(string) bool, log *zap.Logger) {
	if s == nil {
		return
	}
	set := func(flag, value, key string, dst *string) {
		if changed(flag) {
			if *dst != value {
				log.Warn("a flag overrides the MDM file", zap.String("flag", "--"+flag), zap.String("mdm_key", key))
			}
			return
		}
		*dst = value
	}
	set("team", s.Organization, "organization", &c.team)
	switch s.ServiceMode {
	case mdm.ModeWARP:
		set("mode", string(tunnel.ModeTUN), "service_mode", &c.mode)
	case mdm.ModeProxy:
		set("mode", string(tunnel.ModeProxy), "service_mode", &c.mode)
	}
	if s.ProxyPort != 0 {
		set("proxy-addr", "127.0.0.1:"+strconv.Itoa(s.ProxyPort), "proxy_port", &c.proxyAddr)
	}
}
