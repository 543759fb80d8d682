package agent

import (
	"go.uber.org/zap"
)

// scheduleAutoConnect turns the tunnel back on after the MDM file's
// auto_connect minutes, as the Cloudflare One Client does after a user
// turns it off: unless the user connected (or disconnected again, which
// starts a new wait) in between. Without auto_connect it does nothing.
func (a *Agent) scheduleAutoConnect() {
	a.mu.Lock()
	s := a.snap.mdm.settings
	a.snap.mdm.autoGen++
	gen := a.snap.mdm.autoGen
	a.mu.Unlock()
	if s == nil || s.AutoConnect <= 0 {
		return
	}
	t := a.clk.NewTimer(s.AutoConnect)
	if !a.spawn(func() {
		select {
		case <-t.C():
		case <-a.ctx.Done():
			t.Stop()
			return
		}
		a.mu.Lock()
		due := gen == a.snap.mdm.autoGen && a.snap.persisted.Disconnected && a.snap.reg != nil
		a.mu.Unlock()
		if !due {
			return
		}
		a.log.Info("turning the tunnel back on (auto_connect in the MDM file)", zap.Duration("after", s.AutoConnect))
		if err := a.Connect(a.ctx); err != nil {
			a.log.Error("auto_connect", zap.Error(err))
		}
	}) {
		t.Stop()
	}
}
