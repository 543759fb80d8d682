package agent

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/platform/keyring"
)

// gatedKeyring answers only once its gate opens (or the call's deadline
// passes): a keyring that is slow, not broken.
type gatedKeyring struct {
	keyring.Store
	gate     chan struct{}
	inFlight atomic.Int32
}

func (g *gatedKeyring) Get(ctx context.Context, k string) ([]byte, error) {
	g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Store.Get(ctx, k)
}

// TestRegisterWhileTheFirstKeyringReadIsSlow: `agentctl register` right
// after agentd starts, while its first keyring read has not answered,
// waits for that answer instead of saying the keyring cannot be used (a
// busy machine made the crash test's first registration fail so).
func TestRegisterWhileTheFirstKeyringReadIsSlow(t *testing.T) {
	gated := &gatedKeyring{gate: make(chan struct{})}
	e := newEnv(t, func(o *Options) {
		gated.Store = o.Keyring
		o.Keyring = gated
		o.KeyringTimeout = DefaultKeyringTimeout
	})
	if err := waitCond(func() bool { return gated.inFlight.Load() > 0 }); err != nil {
		t.Fatalf("the first keyring read never started: %v", err)
	}
	type result struct {
		au  ipcproto.AuthURL
		err error
	}
	done := make(chan result, 1)
	go func() {
		au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
		done <- result{au, err}
	}()
	if err := waitCond(func() bool { return e.a.loadWaiters.Load() > 0 }); err != nil {
		select {
		case r := <-done:
			t.Fatalf("Register answered before the keyring did: %+v %v", r.au, r.err)
		default:
			t.Fatal(err)
		}
	}
	close(gated.gate)
	r := <-done
	if r.err != nil || r.au.AuthURL == "" {
		t.Fatalf("Register after the slow first read: %+v %v", r.au, r.err)
	}
	e.waitState(ipcproto.StateRegistering)
}
