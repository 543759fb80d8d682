package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// signalKey is a device and a policy; the signal log keeps, for each, the
// auth_time whose expiry was last signalled.
type signalKey struct {
	deviceID string
	policyID string
}

// signalLog makes session_expired signals one per device, policy and
// auth_time, however many flows the expiry blocks at once.
type signalLog struct {
	mu   sync.Mutex
	sent map[signalKey]time.Time
}

func (l *signalLog) init() { l.sent = make(map[signalKey]time.Time) }

// first reports whether s is the first signal of its triple, and records it.
func (l *signalLog) first(s SessionExpired) bool {
	k := signalKey{s.DeviceID, s.PolicyID}
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.sent[k]; ok && at.Equal(s.AuthTime) {
		return false
	}
	l.sent[k] = s.AuthTime
	return true
}

// forget arms s's triple again, because its signal was never delivered.
func (l *signalLog) forget(s SessionExpired) {
	k := signalKey{s.DeviceID, s.PolicyID}
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.sent[k]; ok && at.Equal(s.AuthTime) {
		delete(l.sent, k)
	}
}

// delivery is one queued callback: a signal or an audit record.
type delivery struct {
	isSignal bool
	signal   SessionExpired
	decision Decision
}

type outboxOptions struct {
	log     *zap.Logger
	audit   func(context.Context, Decision) error
	signal  func(context.Context, SessionExpired) error
	failed  func(SessionExpired)
	size    int
	timeout time.Duration
}

// outbox calls Audit and Signal from one goroutine, in the order the
// decisions were made, so that the hooks never wait for the registry's
// database on the packet path.
type outbox struct {
	outboxOptions
	queue   chan delivery
	stop    chan struct{}
	done    chan struct{}
	dropped atomic.Uint64
}

func newOutbox(o outboxOptions) *outbox {
	b := &outbox{outboxOptions: o, queue: make(chan delivery, o.size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// record queues an audit record, or drops it when the queue is full: a
// burst of decisions must not stall the flows being decided.
func (b *outbox) record(d Decision) {
	if b.audit == nil {
		return
	}
	select {
	case b.queue <- delivery{decision: d}:
	default:
		if n := b.dropped.Add(1); n == 1 || n%1000 == 0 {
			b.log.Warn("gateway audit queue full; audit records dropped", zap.Uint64("dropped", n))
		}
	}
}

// notify queues a signal, waiting for room until ctx ends: signals are
// rare (one per expiry) and must not be lost. A signal that cannot be
// queued is armed again.
func (b *outbox) notify(ctx context.Context, s SessionExpired) {
	if b.signal == nil {
		return
	}
	select {
	case b.queue <- delivery{isSignal: true, signal: s}:
	case <-ctx.Done():
		b.failed(s)
	case <-b.stop:
		b.failed(s)
	}
}

func (b *outbox) run() {
	defer close(b.done)
	for {
		select {
		case d := <-b.queue:
			b.deliver(d)
		case <-b.stop:
			for {
				select {
				case d := <-b.queue:
					b.deliver(d)
				default:
					return
				}
			}
		}
	}
}

func (b *outbox) deliver(d delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	if !d.isSignal {
		if err := b.audit(ctx, d.decision); err != nil {
			b.log.Warn("gateway decision not audited", zap.String("device_id", d.decision.DeviceID), zap.Error(err))
		}
		return
	}
	if err := b.signal(ctx, d.signal); err != nil {
		b.log.Warn("session_expired not signalled; the next blocked flow will try again",
			zap.String("device_id", d.signal.DeviceID), zap.String("policy", d.signal.PolicyName), zap.Error(err))
		b.failed(d.signal)
		return
	}
	b.log.Info("session_expired signalled", zap.String("device_id", d.signal.DeviceID),
		zap.String("policy", d.signal.PolicyName), zap.String("filter", string(d.signal.Filter)))
}

func (b *outbox) close() {
	close(b.stop)
	<-b.done
}
