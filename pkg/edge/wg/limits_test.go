package wg

import (
	"errors"
	"net"
	"testing"
)

func TestMaxFlowsRefusesExtraFlows(t *testing.T) {
	checkLeaks(t)
	srv := startServers(t)
	edge := newEdge(t, Config{Network: srv.network(), Limits: Limits{MaxFlows: 1}})
	c := newClient(t, edge, clientAddr, "dev-1")
	first, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, first, "the one flow allowed")
	expectRefused(t, c, echoAddr)
	first.Close()
	waitFlows(t, edge, 0)
	again, err := c.dialTCP(t.Context(), echoAddr)
	if err != nil {
		t.Fatalf("after the first flow ended: %v", err)
	}
	defer again.Close()
	echo(t, again, "room again")
}

func TestLimitListener(t *testing.T) {
	checkLeaks(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(inner, limitListenerOptions{Max: 1})
	defer l.Close()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	held, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		got <- err
	}()
	// The second connection waits for the first one's slot.
	held.Close()
	held.Close() // a second Close must not free a second slot
	if err := <-got; err != nil {
		t.Fatalf("Accept after a slot freed: %v", err)
	}
	if len(l.slots) != 0 {
		t.Fatalf("%d slots held after both conns closed", len(l.slots))
	}

	// Close unblocks an Accept waiting for a slot.
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	go func() {
		_, err := l.Accept()
		got <- err
	}()
	l.Close()
	if err := <-got; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

func TestQuotaBoundsTotalAndEachDevice(t *testing.T) {
	q := newQuota(3, 2)
	for _, step := range []struct {
		device string
		want   limitHit
	}{
		{"a", withinLimits},
		{"a", withinLimits},
		{"a", deviceLimit},
		{"b", withinLimits},
		{"c", totalLimit},
		{"b", totalLimit},
	} {
		if got := q.acquire(step.device); got != step.want {
			t.Fatalf("acquire(%q) = %v; want %v", step.device, got, step.want)
		}
	}
	q.release("a")
	if got := q.acquire("c"); got != withinLimits {
		t.Fatalf("after a release, acquire(c) = %v", got)
	}
	for _, d := range []string{"a", "b", "c"} {
		q.release(d)
	}
	if byDevice, total := q.holding("a"); byDevice != 0 || total != 0 {
		t.Fatalf("after every release: %d held by a, %d in total", byDevice, total)
	}
	if len(q.byDevice) != 0 {
		t.Fatalf("the quota still remembers devices that hold nothing: %v", q.byDevice)
	}
}

func TestPerDeviceLimitDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.MaxFlowsPerDevice != 1024 || l.MaxPendingTCPPerDevice != 64 || l.MaxDNSPerDevice != 64 {
		t.Fatalf("per-device defaults %d/%d/%d; want 1024/64/64", l.MaxFlowsPerDevice, l.MaxPendingTCPPerDevice, l.MaxDNSPerDevice)
	}
	l = Limits{MaxFlows: 2, MaxPendingTCP: 1, MaxDNSInFlight: 40}.withDefaults()
	if l.MaxFlowsPerDevice != 1 || l.MaxPendingTCPPerDevice != 1 || l.MaxDNSPerDevice != 10 {
		t.Fatalf("per-device defaults follow their totals: got %d/%d/%d; want 1/1/10", l.MaxFlowsPerDevice, l.MaxPendingTCPPerDevice, l.MaxDNSPerDevice)
	}
}
