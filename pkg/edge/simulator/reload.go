package simulator

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/control"
)

// Reload loads the configuration files again and applies them: IdP users
// and groups (S12), the IdP's prompt (S11), Gateway policies, the virtual
// network and the device profile. A configuration with errors changes
// nothing and the result lists every error (REL7). Listeners, the IdP's
// client credentials and the address pool need a restart; a change to them
// is reported as a warning. A panic while reloading is refused like a
// configuration error: a reload must never kill edged (REL7).
func (s *Simulator) Reload(ctx context.Context) (res control.ReloadResult) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	// Loading and preparing change nothing, so a panic there leaves the
	// old configuration whole; applied marks the point after which that
	// is no longer certain.
	applied := false
	defer func() {
		if r := recover(); r != nil {
			msg := "internal error while reloading the configuration (%v); the old configuration stays in force: please report this, with the configuration, to the ztagent developers"
			if applied {
				msg = "internal error while applying the reloaded configuration (%v); part of it may be in force: restart edged, and please report this to the ztagent developers"
			}
			res = s.reloadFailed(ctx, fmt.Errorf(msg, r))
		}
	}()
	old := s.cfg.Load()
	next, err := reloadConfig(s.opts.TerraformDir, s.opts.SimFile, s.opts.Listen)
	if err != nil {
		return s.reloadFailed(ctx, err)
	}
	var warnings []string
	if next.sim.Listen != s.fileListen {
		warnings = append(warnings, "listener changes take effect after a restart of edged")
	}
	// Listeners stay where they are until a restart.
	next.sim.Listen = old.sim.Listen
	if next.sim.Team != old.sim.Team {
		warnings = append(warnings, "the team name changes after a restart of edged; the old one stays in force")
		next.sim.Team = old.sim.Team
	}
	// What the running parts were built with stays until a restart: the
	// IdP knows only the old client, the registry hands out addresses from
	// the old pool.
	nextIdP, oldIdP := &next.sim.IdP.Provider.Config, &old.sim.IdP.Provider.Config
	if next.clientID() != old.clientID() || !nextIdP.ClientSecret.Equal(oldIdP.ClientSecret) {
		warnings = append(warnings, "the identity provider's client_id and client_secret change after a restart of edged; the old ones stay in force")
		nextIdP.ClientID, nextIdP.ClientSecret = old.clientID(), oldIdP.ClientSecret
	}
	if next.sim.Network.AddressPool != old.sim.Network.AddressPool || next.sim.Network.Resolver != old.sim.Network.Resolver {
		warnings = append(warnings, "the address pool and the resolver change after a restart of edged; the old ones stay in force")
		next.sim.Network.AddressPool, next.sim.Network.Resolver = old.sim.Network.AddressPool, old.sim.Network.Resolver
	}

	// Prepare everything that can fail before changing anything, so that
	// a refused reload leaves the old configuration whole.
	network, err := next.network()
	if err != nil {
		return s.reloadFailed(ctx, err)
	}
	applyGateway, err := s.gateway.prepare(next)
	if err != nil {
		return s.reloadFailed(ctx, err)
	}
	applyTeam, err := s.team.prepare(next)
	if err != nil {
		return s.reloadFailed(ctx, err)
	}
	applyTokens, err := s.tokens.sync(next)
	if err != nil {
		return s.reloadFailed(ctx, err)
	}
	// The two steps that can still fail go first, the second undoing the
	// first on failure; the rest cannot fail.
	applied = true
	if err := s.wg.SetNetwork(network); err != nil {
		return s.reloadFailed(ctx, err)
	}
	if err := s.idp.SetUsers(idpUsers(next)); err != nil {
		if old, oerr := old.network(); oerr == nil {
			_ = s.wg.SetNetwork(old)
		}
		return s.reloadFailed(ctx, err)
	}
	applyTeam()
	applyGateway()
	applyTokens()
	// The identity cache reads the directory from the stored
	// configuration, so it is emptied once the new one is in place.
	s.cfg.Store(next)
	s.gateway.ids.forget()

	for _, d := range next.diags.Warnings() {
		warnings = append(warnings, d.String())
	}
	s.audit(ctx, "config_reloaded", map[string]any{"warnings": len(warnings)})
	s.notifyPolicyChanged(ctx)
	s.log.Info("configuration reloaded", zap.Int("warnings", len(warnings)))
	return control.ReloadResult{Reloaded: true, Warnings: warnings}
}

// reloadConfig is loadConfig; tests replace it to make a reload panic.
var reloadConfig = loadConfig

func (s *Simulator) reloadFailed(ctx context.Context, err error) control.ReloadResult {
	res := control.ReloadResult{}
	var ce *ConfigError
	if errors.As(err, &ce) {
		for _, d := range ce.Diagnostics.Errors() {
			res.Errors = append(res.Errors, d.String())
		}
	} else {
		res.Errors = []string{err.Error()}
	}
	s.audit(ctx, "config_reload_refused", map[string]any{"errors": res.Errors})
	s.log.Warn("configuration reload refused; the old configuration stays in force", zap.Strings("errors", res.Errors))
	return res
}

// notifyPolicyChanged appends policy_changed to every active device's
// stream, so that agents fetch their session map again.
func (s *Simulator) notifyPolicyChanged(ctx context.Context) {
	if _, err := s.reg.AppendActive(ctx, control.EventPolicyChanged, struct{}{}); err != nil {
		s.log.Error("announcing the new policies", zap.Error(err))
	}
}

// notifyClockChanged appends clock_changed to every active device's
// stream after the simulated time moved, so that agents measure the
// edge's clock again and their expiry timers follow it rather than
// waiting for a blocked flow to tell them.
func (s *Simulator) notifyClockChanged(ctx context.Context) {
	ev := control.ClockChanged{Now: s.clock.Now(), Offset: s.clock.Offset().String()}
	n, err := s.reg.AppendActive(ctx, control.EventClockChanged, ev)
	if err != nil {
		s.log.Error("announcing the new simulated time", zap.Error(err))
		return
	}
	s.log.Debug("announced the new simulated time", zap.Int("devices", n), zap.Time("now", ev.Now))
}

func (s *Simulator) audit(ctx context.Context, kind string, detail any) {
	if _, err := s.reg.Audit(ctx, kind, "edged", "", detail); err != nil {
		s.log.Error("writing the audit log", zap.String("kind", kind), zap.Error(err))
	}
}
