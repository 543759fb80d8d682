package tunnel

import "golang.zx2c4.com/wireguard/tun"

// eventFilter keeps a tun.Device's up and down events from the WireGuard
// device, passing on the rest (MTU changes). wireguard-go makes the device
// follow those events, and both of our links send them at the wrong time:
// the netstack reports "up" the moment it exists, so the device comes up on
// its own before it is configured; a new TUN interface is first reported
// "down", which can take the device down just after our Up, and the
// handshake lost in that flap costs up to a keepalive interval. The tunnel
// brings the device up itself once configured, and down only in Close.
type eventFilter struct {
	tun.Device
	events chan tun.Event
	done   chan struct{} // closed when the forwarding goroutine has ended
}

func filterEvents(d tun.Device) *eventFilter {
	f := &eventFilter{Device: d, events: make(chan tun.Event, 4), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer close(f.events)
		// Both links close their event channel in Close; the device
		// reads ours until it closes, so neither side blocks for good.
		for ev := range d.Events() {
			if ev &^= tun.EventUp | tun.EventDown; ev != 0 {
				f.events <- ev
			}
		}
	}()
	return f
}

// Events returns the filtered events.
func (f *eventFilter) Events() <-chan tun.Event { return f.events }
