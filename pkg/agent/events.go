package agent

import (
	"encoding/json"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// subscriber is one front-end following the events. Its queue is bounded:
// publishing never blocks, and a subscriber whose queue is full is dropped
// (its channel closed) rather than slowing the agent or the others.
type subscriber struct {
	ch   chan ipcproto.Event
	uid  int
	once sync.Once
}

// audience names who may see an event: everyone, or only root and the
// listed uids. Enrollment and re-authentication URLs are for the person
// who asked, never for every local user (another user who opened an
// enrollment URL in her own browser would register the device to herself).
type audience struct {
	only bool
	uids []int
}

// everyone is the audience of events any local user may read, as they may
// read the status.
var everyone = audience{}

// onlyUID returns the audience of root and uid.
func onlyUID(uid int) audience { return audience{only: true, uids: []int{uid}} }

// admits reports whether a subscriber of uid sees the event.
func (au audience) admits(uid int) bool {
	if !au.only || uid == 0 {
		return true
	}
	return slices.Contains(au.uids, uid)
}

// Subscribe returns the current status and a channel of every later
// event caller may see, in order. The channel is closed when the subscriber falls
// SubscriberBuffer events behind, when cancel is called, or when the agent
// closes.
func (a *Agent) Subscribe(caller ipc.Caller) (ipcproto.Status, <-chan ipcproto.Event, func()) {
	s := &subscriber{ch: make(chan ipcproto.Event, a.opts.SubscriberBuffer), uid: caller.UID}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Taking the snapshot and registering under the same lock that every
	// publish holds means the subscriber sees each change exactly once:
	// either in the snapshot or as an event after it.
	snap := a.statusLocked()
	if a.ctx.Err() != nil {
		s.once.Do(func() { close(s.ch) })
		return snap, s.ch, func() {}
	}
	a.subs[s] = struct{}{}
	return snap, s.ch, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.dropLocked(s)
	}
}

func (a *Agent) dropLocked(s *subscriber) {
	delete(a.subs, s)
	s.once.Do(func() { close(s.ch) })
}

// publishLocked sends an event to every subscriber. data must hold no
// secret; its JSON is scrubbed all the same, as a last line of defence
// (SEC5).
func (a *Agent) publishLocked(typ string, data any) {
	a.publishToLocked(everyone, typ, data)
}

// publishToLocked sends an event to the subscribers au admits.
func (a *Agent) publishToLocked(au audience, typ string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		a.log.Error("encoding an event", zap.String("type", typ), zap.Error(err))
		return
	}
	ev := ipcproto.Event{Type: typ, Time: a.clk.Now(), Data: secret.ScrubBytes(raw)}
	for s := range a.subs {
		if !au.admits(s.uid) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			a.log.Warn("dropping an event subscriber that fell behind", zap.Int("queue", cap(s.ch)))
			a.dropLocked(s)
		}
	}
}

// operatorAudienceLocked returns the audience of prompts for the person
// using the device: the operator and root, or root alone when no operator
// is known.
func (a *Agent) operatorAudienceLocked() audience {
	if op := a.snap.persisted.OperatorUID; op != nil {
		return onlyUID(*op)
	}
	return audience{only: true}
}
