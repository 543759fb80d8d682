package tunnel

import (
	"runtime/debug"
	"testing"
)

func TestMemoryLimitHeldUntilTheLastTunnelCloses(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	const limit = 100 << 20
	a := holdMemoryLimit(limit)
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Fatalf("limit %d after the first hold, want %d", got, limit)
	}
	b := holdMemoryLimit(2 * limit)
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Fatalf("a second tunnel changed the limit to %d", got)
	}
	a.release()
	a.release() // twice does nothing
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Fatalf("limit %d while a tunnel still holds it, want %d", got, limit)
	}
	b.release()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit %d after the last release, want the original %d", got, before)
	}
}

func TestMemoryLimitKeepsALowerOne(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	const lower = 30 << 20
	debug.SetMemoryLimit(lower)
	h := holdMemoryLimit(100 << 20)
	if got := debug.SetMemoryLimit(-1); got != lower {
		t.Fatalf("limit %d, want the lower one already set, %d", got, lower)
	}
	h.release()
	if got := debug.SetMemoryLimit(-1); got != lower {
		t.Fatalf("limit %d after release, want %d untouched", got, lower)
	}
	off := holdMemoryLimit(-1)
	off.release()
	if got := debug.SetMemoryLimit(-1); got != lower {
		t.Fatalf("a negative MemoryLimit changed the limit to %d", got)
	}
}

func TestTunnelHoldsItsMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	agent, edgeKey := newKeyPair(t), newKeyPair(t)
	e := startEdge(t, "edge-a", edgeKey, agent)
	tun := startTunnel(t, e, agent, Options{})
	if got := debug.SetMemoryLimit(-1); got != min(before, DefaultMemoryLimit) {
		t.Fatalf("memory limit %d with a tunnel up, want %d", got, min(before, DefaultMemoryLimit))
	}
	tun.Close()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("memory limit %d after Close, want %d back", got, before)
	}
}
