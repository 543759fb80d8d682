package agent

import (
	"encoding/json"
	"sync"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// subscriber is one front-end following the events. Its queue is bounded:
// publishing never blocks, and a subscriber whose queue is full is dropped
// (its channel closed) rather than slowing the agent or the others.
type subscriber struct {
	ch   chan ipcproto.Event
	once sync.Once
}

// Subscribe returns the current status and a channel of every later
// event, in order. The channel is closed when the subscriber falls
// SubscriberBuffer events behind, when cancel is called, or when the agent
// closes.
func (a *Agent) Subscribe() (ipcproto.Status, <-chan ipcproto.Event, func()) {
	s := &subscriber{ch: make(chan ipcproto.Event, a.opts.SubscriberBuffer)}
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
	raw, err := json.Marshal(data)
	if err != nil {
		a.log.Error("encoding an event", zap.String("type", typ), zap.Error(err))
		return
	}
	ev := ipcproto.Event{Type: typ, Time: a.clk.Now(), Data: secret.ScrubBytes(raw)}
	for s := range a.subs {
		select {
		case s.ch <- ev:
		default:
			a.log.Warn("dropping an event subscriber that fell behind", zap.Int("queue", cap(s.ch)))
			a.dropLocked(s)
		}
	}
}
