package browseprompt_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/pkg/ipc/browseprompt"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/platform/browser"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const team = "http://acme.localhost:8781"

func browseTo(url, reason string) ipcproto.Event {
	data, _ := json.Marshal(ipcproto.BrowseToURL{URL: url, Reason: reason})
	return ipcproto.Event{Type: ipcproto.EventBrowseToURL, Data: data}
}

// launches records what production validation let through to the desktop.
type launches struct {
	mu   sync.Mutex
	urls []string
}

func (l *launches) launch(url string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.urls = append(l.urls, url)
	return nil
}

func (l *launches) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.urls)
}

// Through the production opener with only the launcher faked: an expiry
// prompt on the team domain opens every time it comes (S16), one of
// another reason is not opened, and a URL off the team domain is refused
// by production code and reported, never launched. A dropped
// subscription is taken up again.
func TestFollowOpensExpiryPromptsThroughProductionChecks(t *testing.T) {
	refresh := team + "/cdn-cgi/access/refresh-identity"
	// The first subscription is dropped after one event, as a slow
	// subscriber is; the second carries the rest.
	first := make(chan ipcproto.Event, 1)
	first <- browseTo(refresh, ipcproto.EventSessionExpired)
	close(first)
	second := make(chan ipcproto.Event)
	var subscribes, cancels int
	src := browseprompt.NewSubscription(func() (<-chan ipcproto.Event, func()) {
		subscribes++
		ch := first
		if subscribes > 1 {
			ch = second
		}
		return ch, func() { cancels++ }
	})

	l := &launches{}
	seen := make(chan ipcproto.Event)
	var refused []string
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- browseprompt.Follow(ctx, browseprompt.Options{
			Source:      src,
			Opener:      &browser.System{AllowedFunc: func() []string { return []string{team} }, Launch: l.launch},
			Reasons:     []string{ipcproto.EventSessionExpired},
			OnEvent:     func(ev ipcproto.Event) error { seen <- ev; return nil },
			OnOpenError: func(url string, err error) { refused = append(refused, url) },
		})
	}()
	send := func(ev ipcproto.Event) {
		t.Helper()
		second <- ev
		<-seen
	}
	<-seen // the first subscription's event
	send(browseTo(refresh, ipcproto.EventSessionExpired))
	send(browseTo(team+"/enroll", "enrollment"))
	send(browseTo("http://evil.example/cdn-cgi/access/refresh-identity", ipcproto.EventSessionExpired))
	send(browseTo("https://acme.localhost:8781/downgrade-check", ipcproto.EventSessionExpired))
	// Follow handles one event at a time: once the marker is seen,
	// everything before it is done.
	send(ipcproto.Event{Type: ipcproto.EventSnapshot})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow after cancel = %v, want nil", err)
	}
	src.Close()

	if got := l.got(); !slices.Equal(got, []string{refresh, refresh}) {
		t.Errorf("launched %q, want the refresh URL twice", got)
	}
	if want := []string{"http://evil.example/cdn-cgi/access/refresh-identity", "https://acme.localhost:8781/downgrade-check"}; !slices.Equal(refused, want) {
		t.Errorf("reported refusals %q, want %q", refused, want)
	}
	if subscribes != 2 || cancels != 2 {
		t.Errorf("subscribed %d times, cancelled %d, want 2 and 2", subscribes, cancels)
	}
}

// fakeStream is a network stream that yields its events, then blocks until
// closed or ends with end.
type fakeStream struct {
	events []ipcproto.Event
	end    error
	closed chan struct{}
	once   sync.Once
}

func (s *fakeStream) Next() (ipcproto.Event, error) {
	if len(s.events) > 0 {
		ev := s.events[0]
		s.events = s.events[1:]
		return ev, nil
	}
	if s.end != nil {
		return ipcproto.Event{}, s.end
	}
	<-s.closed
	return ipcproto.Event{}, errors.New("use of closed network connection")
}

func (s *fakeStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// A stream's end is Follow's error; ctx's end interrupts a blocked read
// and is a normal end; OnEvent's error stops Follow.
func TestFollowEnds(t *testing.T) {
	st := &fakeStream{events: []ipcproto.Event{{Type: ipcproto.EventSnapshot}}, end: io.EOF, closed: make(chan struct{})}
	if err := browseprompt.Follow(t.Context(), browseprompt.Options{Source: browseprompt.FromStream(st)}); !errors.Is(err, io.EOF) {
		t.Fatalf("Follow at the stream's end = %v, want EOF", err)
	}

	st = &fakeStream{closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- browseprompt.Follow(ctx, browseprompt.Options{Source: browseprompt.FromStream(st)}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow after cancel = %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Follow blocked in a read after its context ended")
	}

	stop := errors.New("stdout closed")
	st = &fakeStream{events: []ipcproto.Event{{Type: ipcproto.EventSnapshot}}, closed: make(chan struct{})}
	err := browseprompt.Follow(t.Context(), browseprompt.Options{Source: browseprompt.FromStream(st), OnEvent: func(ipcproto.Event) error { return stop }})
	if !errors.Is(err, stop) {
		t.Fatalf("Follow when OnEvent fails = %v, want its error", err)
	}
}

// sliceStream yields its events, then ends with io.EOF, as a stream does
// when agentd stops.
type sliceStream struct {
	events []ipcproto.Event
	closed bool
}

func (s *sliceStream) Next() (ipcproto.Event, error) {
	if len(s.events) == 0 {
		return ipcproto.Event{}, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}

func (s *sliceStream) Close() error { s.closed = true; return nil }

// A stream that ends (agentd restarting) is dialed again with a doubling
// backoff while agentd is down; the outage is reported once, and so is
// the return; the events of both streams come through in order.
func TestReconnectingSurvivesRestarts(t *testing.T) {
	snap := ipcproto.Event{Type: ipcproto.EventSnapshot}
	first := &sliceStream{events: []ipcproto.Event{snap, browseTo(team+"/a", "session_expired")}}
	second := &sliceStream{events: []ipcproto.Event{snap, browseTo(team+"/b", "session_expired")}}
	dials := 0
	var waits []time.Duration
	var downs, ups int
	r := &browseprompt.Reconnecting{
		Dial: func(context.Context) (browseprompt.Stream, error) {
			dials++
			switch dials {
			case 1:
				return first, nil
			case 5:
				return second, nil
			}
			return nil, errors.New("connect: no such file or directory")
		},
		OnDown: func(error) { downs++ },
		OnUp:   func() { ups++ },
		Wait:   func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil },
	}
	defer r.Close()
	var urls []string
	for len(urls) < 2 {
		ev, err := r.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == ipcproto.EventBrowseToURL {
			var b ipcproto.BrowseToURL
			_ = json.Unmarshal(ev.Data, &b)
			urls = append(urls, b.URL)
		}
	}
	if !slices.Equal(urls, []string{team + "/a", team + "/b"}) || !first.closed || downs != 1 || ups != 1 {
		t.Fatalf("urls %v, first closed %v, %d downs, %d ups", urls, first.closed, downs, ups)
	}
	if want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}; !slices.Equal(waits, want) {
		t.Fatalf("backoff %v, want %v", waits, want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("after the context ended: %v", err)
	}
}
