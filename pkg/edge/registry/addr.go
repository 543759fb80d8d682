package registry

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/ztagent/ztagent/pkg/apierror"
)

// maxIndex is the highest host index allocate hands out in the pool.
func (r *Registry) maxIndex() uint64 {
	host := r.pool.Addr().BitLen() - r.pool.Bits()
	if host > 62 {
		host = 62
	}
	limit := uint64(1)<<host - 1
	if r.pool.Addr().Is4() {
		limit-- // the broadcast address
	}
	return limit
}

// addrAt returns the pool's address with host index i; i is below
// 2^(host bits), so adding it to the masked base never carries.
func (r *Registry) addrAt(i uint64) netip.Addr {
	b := r.pool.Addr().As16()
	low := binary.BigEndian.Uint64(b[8:])
	binary.BigEndian.PutUint64(b[8:], low+i)
	a := netip.AddrFrom16(b)
	if r.pool.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// allocate gives deviceID the next never-used address of the pool. Addresses
// are never reused, even after a device is revoked or leaves, so a stale
// peer or log line can never be mistaken for a new device.
func (r *Registry) allocate(tx *sql.Tx, deviceID string) (netip.Prefix, error) {
	pool := r.pool.String()
	var last sql.NullInt64
	if err := tx.QueryRow(`SELECT MAX(idx) FROM addresses WHERE pool = ?`, pool).Scan(&last); err != nil {
		return netip.Prefix{}, fmt.Errorf("registry: read address pool: %w", err)
	}
	i := uint64(1) // 0 is the network address
	if last.Valid {
		i = uint64(last.Int64) + 1
	}
	for ; i <= r.maxIndex(); i++ {
		a := r.addrAt(i)
		if r.reserved[a] {
			continue
		}
		p := netip.PrefixFrom(a, a.BitLen())
		if _, err := tx.Exec(`INSERT INTO addresses (address, pool, idx, device_id) VALUES (?, ?, ?, ?)`,
			p.String(), pool, int64(i), deviceID); err != nil {
			return netip.Prefix{}, fmt.Errorf("registry: allocate address %v: %w", p, err)
		}
		return p, nil
	}
	return netip.Prefix{}, &apierror.Error{Code: CodePoolExhausted,
		Message: fmt.Sprintf("the tunnel address pool %v has no address left (addresses are never reused)", r.pool),
		Hint:    "configure a larger network.address_pool in the simulator file"}
}
