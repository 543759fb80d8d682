package wg

import (
	"net"
	"sync"
)

// limitListenerOptions bound a limitListener.
type limitListenerOptions struct {
	// Max is the number of connections open at once; Accept waits for
	// one to close.
	Max int
	// MaxPerDevice is the number one device may hold; its connections
	// past it are closed as soon as they are accepted, so that a device
	// at its limit cannot take every slot of Max. Zero means no
	// per-device bound (DeviceOf is then unused).
	MaxPerDevice int
	// DeviceOf names the device a connection comes from.
	DeviceOf func(net.Conn) string
	// Refused, when not nil, hears of each connection closed for its
	// device's bound.
	Refused func(device string)
}

// limitListener bounds the connections it hands out, in total and per
// device. It bounds the DNS-over-TCP connections and so their goroutines.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	perDevice *quota // nil without a per-device bound
	deviceOf  func(net.Conn) string
	refused   func(device string)
	done      chan struct{}
	once      sync.Once
}

func newLimitListener(l net.Listener, o limitListenerOptions) *limitListener {
	ll := &limitListener{Listener: l, slots: make(chan struct{}, o.Max), deviceOf: o.DeviceOf, refused: o.Refused, done: make(chan struct{})}
	if o.MaxPerDevice > 0 {
		ll.perDevice = newQuota(o.Max, o.MaxPerDevice)
	}
	return ll
}

// Accept returns the next connection that fits the bounds.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		if l.perDevice == nil {
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		}
		device := l.deviceOf(c)
		if l.perDevice.acquire(device) != withinLimits {
			c.Close()
			<-l.slots
			if l.refused != nil {
				l.refused(device)
			}
			continue
		}
		return &slotConn{Conn: c, release: func() {
			l.perDevice.release(device)
			<-l.slots
		}}, nil
	}
}

// Close stops the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
