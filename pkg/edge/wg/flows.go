package wg

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
)

var (
	errClosed           = errors.New("the edge is shutting down")
	errTooMany          = errors.New("too many open flows; raise Limits.MaxFlows or wait for flows to end")
	errTooManyForDevice = errors.New("this device has too many open flows; raise Limits.MaxFlowsPerDevice or wait for its flows to end")
	errNoUpstream       = errors.New("the virtual network has no upstream for this destination")
	errPeerChanged      = errors.New("the peer was removed or changed while the flow started")
)

// flowTable holds the open flows and counts every goroutine that serves
// one, so that shutdown can close them all and wait.
type flowTable struct {
	quota *quota

	mu         sync.Mutex
	closed     bool
	live       map[uint64]*liveFlow
	byUpstream map[netip.AddrPort]*liveFlow // local address of an upstream conn
	changed    chan struct{}                // closed and replaced when live changes
	wg         sync.WaitGroup
}

func newFlowTable(l Limits) *flowTable {
	return &flowTable{
		quota:      newQuota(l.MaxFlows, l.MaxFlowsPerDevice),
		live:       make(map[uint64]*liveFlow),
		byUpstream: make(map[netip.AddrPort]*liveFlow),
		changed:    make(chan struct{}),
	}
}

// enter counts a goroutine that someone else started (gVisor's TCP
// forwarder); it reports false once shutdown has begun. Every true must be
// matched by leave.
func (t *flowTable) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *flowTable) leave() { t.wg.Done() }

// goRun starts f in a counted goroutine, unless shutdown has begun.
func (t *flowTable) goRun(f func()) bool {
	if !t.enter() {
		return false
	}
	go func() {
		defer t.leave()
		f()
	}()
	return true
}

// liveFlow is an open flow: its context and what to close when it ends.
type liveFlow struct {
	flow Flow
	// peer is the peer table entry the flow started under; a new entry
	// for the same key (a changed device or addresses) is another
	// identity, and ends the flows of this one.
	peer   *Peer
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	ended   bool
	closers []io.Closer
}

// open reserves a place for f, which came from peer p, among the open
// flows, within the total and the device's limits.
func (t *flowTable) open(parent context.Context, f Flow, p *Peer) (*liveFlow, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errClosed
	}
	switch t.quota.acquire(f.DeviceID) {
	case totalLimit:
		return nil, errTooMany
	case deviceLimit:
		return nil, errTooManyForDevice
	}
	lf := &liveFlow{flow: f, peer: p}
	lf.ctx, lf.cancel = context.WithCancel(parent)
	t.live[f.ID] = lf
	t.notifyLocked()
	return lf, nil
}

// attach makes c part of the flow, closed when it ends; when the flow has
// already ended it closes c at once and reports false.
func (lf *liveFlow) attach(c io.Closer) bool {
	lf.mu.Lock()
	if lf.ended {
		lf.mu.Unlock()
		c.Close()
		return false
	}
	lf.closers = append(lf.closers, c)
	lf.mu.Unlock()
	return true
}

// end cancels the flow's context and closes what is attached to it, which
// makes the goroutines serving it return.
func (lf *liveFlow) end() {
	lf.cancel()
	lf.mu.Lock()
	closers := lf.closers
	lf.closers = nil
	lf.ended = true
	lf.mu.Unlock()
	for _, c := range closers {
		c.Close()
	}
}

// finish ends lf and forgets it.
func (t *flowTable) finish(lf *liveFlow) {
	lf.end()
	t.mu.Lock()
	if _, ok := t.live[lf.flow.ID]; ok {
		delete(t.live, lf.flow.ID)
		t.quota.release(lf.flow.DeviceID)
		t.notifyLocked()
	}
	for a, f := range t.byUpstream {
		if f == lf {
			delete(t.byUpstream, a)
		}
	}
	t.mu.Unlock()
}

// trackUpstream remembers that c, a connection to lf's upstream, belongs
// to lf, until c is closed.
func (t *flowTable) trackUpstream(lf *liveFlow, c net.Conn) net.Conn {
	if _, tcp := c.LocalAddr().(*net.TCPAddr); !tcp {
		// Only TCP: UDP ports are another port space, and a local process
		// could bind TCP to a UDP flow's port to pass as its device.
		return c
	}
	local, ok := addrPortOf(c.LocalAddr())
	if !ok {
		return c
	}
	t.mu.Lock()
	t.byUpstream[local] = lf
	t.mu.Unlock()
	return &trackedConn{Conn: c, untrack: func() {
		t.mu.Lock()
		if t.byUpstream[local] == lf {
			delete(t.byUpstream, local)
		}
		t.mu.Unlock()
	}}
}

func (t *flowTable) lookupUpstream(local netip.AddrPort) (Flow, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lf, ok := t.byUpstream[unmapPort(local)]
	if !ok {
		return Flow{}, false
	}
	return lf.flow, true
}

// endPeer ends the open flows that started under p, a peer table entry
// that was removed or replaced.
func (t *flowTable) endPeer(p *Peer) {
	t.mu.Lock()
	var victims []*liveFlow
	for _, lf := range t.live {
		if lf.peer == p {
			victims = append(victims, lf)
		}
	}
	t.mu.Unlock()
	for _, lf := range victims {
		lf.end()
	}
}

// watch returns the number of open flows and a channel closed when it
// changes.
func (t *flowTable) watch() (int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live), t.changed
}

func (t *flowTable) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// shutdown refuses new flows, ends the open ones and waits for every
// counted goroutine.
func (t *flowTable) shutdown() {
	t.mu.Lock()
	t.closed = true
	victims := make([]*liveFlow, 0, len(t.live))
	for _, lf := range t.live {
		victims = append(victims, lf)
	}
	t.mu.Unlock()
	for _, lf := range victims {
		lf.end()
	}
	t.wg.Wait()
}

// trackedConn forgets its upstream mapping when closed.
type trackedConn struct {
	net.Conn
	once    sync.Once
	untrack func()
}

func (c *trackedConn) Close() error {
	c.once.Do(c.untrack)
	return c.Conn.Close()
}

// CloseWrite half-closes when the underlying connection can.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		return unmapPort(a.AddrPort()), true
	case *net.UDPAddr:
		return unmapPort(a.AddrPort()), true
	}
	return netip.AddrPort{}, false
}
