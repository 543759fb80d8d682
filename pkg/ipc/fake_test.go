package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// fakeBackend is a Backend with fixed answers, the calls it received, and a
// broadcaster that drops a subscriber whose buffer is full, as pkg/agent's
// must.
type fakeBackend struct {
	mu           sync.Mutex
	status       ipcproto.Status
	settings     ipcproto.Settings
	operator     int
	registered   bool
	calls        []string
	registeredBy []int
	failWith     error

	subBuf int
	// endStreams makes Subscribe return an already closed channel, so a
	// stream ends right after its snapshot.
	endStreams bool
	subs       map[*fakeSub]struct{}
	dropped    chan struct{}
	subscribed chan struct{}
	blocked    chan struct{}
}

type fakeSub struct {
	ch   chan ipcproto.Event
	once sync.Once
}

func (s *fakeSub) close() { s.once.Do(func() { close(s.ch) }) }

var fakeTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		status: ipcproto.Status{
			State: ipcproto.StateConnected,
			Registration: &ipcproto.Registration{
				DeviceID: "dev-1", User: "alice@acme.test", Team: "acme", IdP: "entra", RegisteredAt: fakeTime,
			},
			Tunnel:  &ipcproto.Tunnel{Mode: "proxy", ProxyAddr: "127.0.0.1:40000", Endpoint: "127.0.0.1:2408", Addresses: []string{"100.96.0.2/32"}, Up: true},
			Session: &ipcproto.SessionClock{AuthTime: fakeTime, ServerTime: fakeTime.Add(time.Minute)},
		},
		settings:   ipcproto.Settings{Mode: "proxy", ProxyAddr: "127.0.0.1:40000"},
		operator:   1000,
		registered: true,
		subBuf:     8,
		subs:       map[*fakeSub]struct{}{},
		dropped:    make(chan struct{}, 64),
		subscribed: make(chan struct{}, 64),
		blocked:    make(chan struct{}, 1),
	}
}

func (f *fakeBackend) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Bounded so a fuzzing run does not grow it forever.
	if len(f.calls) < 1000 {
		f.calls = append(f.calls, call)
	}
	return f.failWith
}

func (f *fakeBackend) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWith = err
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) Status(context.Context) ipcproto.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeBackend) Session(context.Context) (ipcproto.Session, error) {
	if err := f.record("session"); err != nil {
		return ipcproto.Session{}, err
	}
	return ipcproto.Session{
		AuthTime: fakeTime, ServerTime: fakeTime.Add(time.Minute),
		Gateway: []ipcproto.PolicyExpiry{{PolicyID: "p1", Name: "wiki", Filter: "http", Duration: "1h", ExpiresAt: fakeTime.Add(time.Hour)}},
		Access:  &ipcproto.AccessExpiry{Duration: "24h", ExpiresAt: fakeTime.Add(24 * time.Hour)},
	}, nil
}

// blockingDst makes Explain wait for its context, signalling f.blocked.
const blockingDst = "block.test:1"

func (f *fakeBackend) Explain(ctx context.Context, dst, proto string) (json.RawMessage, error) {
	if dst == blockingDst {
		signal(f.blocked)()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err := f.record("explain " + dst + " " + proto); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(map[string]any{"dst": dst, "proto": proto, "decision": "allow", "steps": []string{"dns", "l4"}})
	return b, nil
}

func (f *fakeBackend) Register(_ context.Context, c Caller, req ipcproto.RegisterRequest) (ipcproto.AuthURL, error) {
	if err := f.record("register " + req.Team); err != nil {
		return ipcproto.AuthURL{}, err
	}
	f.mu.Lock()
	if len(f.registeredBy) < 1000 {
		f.registeredBy = append(f.registeredBy, c.UID)
	}
	f.mu.Unlock()
	return ipcproto.AuthURL{AuthURL: "http://acme.localhost:8781/warp?x=1"}, nil
}

func (f *fakeBackend) Leave(context.Context) error              { return f.record("leave") }
func (f *fakeBackend) Connect(context.Context) error            { return f.record("connect") }
func (f *fakeBackend) Disconnect(context.Context, Caller) error { return f.record("disconnect") }

func (f *fakeBackend) Reauth(context.Context, ipcproto.ReauthRequest) (ipcproto.AuthURL, error) {
	if err := f.record("reauth"); err != nil {
		return ipcproto.AuthURL{}, err
	}
	return ipcproto.AuthURL{AuthURL: "http://acme.localhost:8781/cdn-cgi/access/refresh-identity"}, nil
}

func (f *fakeBackend) Settings(context.Context) ipcproto.Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings
}

func (f *fakeBackend) SetSettings(_ context.Context, s ipcproto.Settings) error {
	if err := f.record("set_settings"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Mode != "" {
		f.settings.Mode = s.Mode
	}
	if s.ProxyAddr != "" {
		f.settings.ProxyAddr = s.ProxyAddr
	}
	return nil
}

func (f *fakeBackend) Operator() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.operator, f.registered
}

func (f *fakeBackend) Subscribe(Caller) (ipcproto.Status, <-chan ipcproto.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSub{ch: make(chan ipcproto.Event, f.subBuf)}
	f.subs[s] = struct{}{}
	cancel := func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
		s.close()
	}
	if f.endStreams {
		s.close()
	}
	signal(f.subscribed)()
	return f.status, s.ch, cancel
}

// Publish sends ev to every subscriber without ever waiting: a full buffer
// drops that subscriber.
func (f *fakeBackend) Publish(ev ipcproto.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.ch <- ev:
		default:
			delete(f.subs, s)
			s.close()
			f.dropped <- struct{}{}
		}
	}
}

func (f *fakeBackend) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

var errFakeInternal = errors.New("keyring said: token=canary-secret-1234")

var errFakeRefusal = apierror.New(ipcproto.CodeOtherUser, "device is registered to alice@acme.test", "run `agentctl logout` as alice")
