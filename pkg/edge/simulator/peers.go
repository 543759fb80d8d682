package simulator

import (
	"context"
	"fmt"
	"sync"

	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/edge/registry"
	"github.com/ztagent/ztagent/pkg/edge/wg"
)

// peers keeps the WireGuard server's peers equal to the registry's active
// devices: one peer per device, replaced when the device registers again
// with a new key, removed on revocation or departure.
type peers struct {
	srv *wg.Server
	reg *registry.Registry
	// changed is told about every device whose peer changed, so that
	// cached identities go.
	changed func(deviceID string)

	mu       sync.Mutex
	byDevice map[string]wgkey.Public
}

func newPeers(srv *wg.Server, reg *registry.Registry, changed func(deviceID string)) *peers {
	return &peers{srv: srv, reg: reg, changed: changed, byDevice: make(map[string]wgkey.Public)}
}

// Add installs d's peer, replacing the one of its previous registration.
// It reads the device again under the lock Remove takes, so that a revoke
// that ran between the registration and this call wins.
func (p *peers) Add(d registry.Device) error { return p.add(d, true) }

// add is Add; reread is false only for restore, which runs before Start
// serves anything, so that no revoke can have come between.
func (p *peers) add(d registry.Device, reread bool) error {
	key, err := wgkey.ParsePublic(d.WGPublicKey)
	if err != nil {
		return fmt.Errorf("device %s has an unusable WireGuard key: %w", d.ID, err)
	}
	p.changed(d.ID)
	p.mu.Lock()
	defer p.mu.Unlock()
	if reread {
		cur, err := p.reg.Get(context.Background(), d.ID)
		if err != nil {
			return fmt.Errorf("read device %s before adding its WireGuard peer: %w", d.ID, err)
		}
		if cur.State != registry.StateActive || cur.WGPublicKey != d.WGPublicKey {
			return nil // revoked, left or registered again meanwhile
		}
	}
	if old, ok := p.byDevice[d.ID]; ok && old != key {
		if err := p.srv.RemovePeer(old); err != nil {
			return fmt.Errorf("remove the old WireGuard peer of device %s: %w", d.ID, err)
		}
	}
	if err := p.srv.AddPeer(wg.Peer{PublicKey: key, DeviceID: d.ID, Addresses: d.Addresses}); err != nil {
		return fmt.Errorf("add the WireGuard peer of device %s: %w", d.ID, err)
	}
	p.byDevice[d.ID] = key
	return nil
}

// Remove takes d's peer away, so that its new flows stop.
func (p *peers) Remove(d registry.Device) error {
	p.changed(d.ID)
	p.mu.Lock()
	defer p.mu.Unlock()
	key, ok := p.byDevice[d.ID]
	if !ok {
		return nil
	}
	delete(p.byDevice, d.ID)
	return p.srv.RemovePeer(key)
}

// restore adds the peer of every active device, after a restart (REL6),
// from the one listing it read: before Start serves, nothing else writes
// the registry, so each device need not be read again.
func (p *peers) restore(ctx context.Context, reg *registry.Registry) (int, error) {
	devs, err := reg.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range devs {
		if d.State != registry.StateActive {
			continue
		}
		if err := p.add(d, false); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
