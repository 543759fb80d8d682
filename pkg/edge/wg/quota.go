package wg

import "sync"

// limitHit says which bound, if any, refused a quota request.
type limitHit uint8

const (
	withinLimits limitHit = iota
	totalLimit            // every device together is at the limit
	deviceLimit           // the requesting device is at its own limit
)

// String names the bound for logs: "total" or "per-device".
func (h limitHit) String() string {
	switch h {
	case totalLimit:
		return "total"
	case deviceLimit:
		return "per-device"
	}
	return "none"
}

// quota counts the holders of a bounded resource in total and per device,
// so that a device at its own limit leaves room for every other one.
type quota struct {
	total, perDevice int

	mu       sync.Mutex
	held     int
	byDevice map[string]int
}

func newQuota(total, perDevice int) *quota {
	return &quota{total: total, perDevice: perDevice, byDevice: make(map[string]int)}
}

// acquire takes one unit for device unless a bound is reached. Every
// withinLimits must be matched by a release for the same device.
func (q *quota) acquire(device string) limitHit {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held >= q.total {
		return totalLimit
	}
	if q.byDevice[device] >= q.perDevice {
		return deviceLimit
	}
	q.held++
	q.byDevice[device]++
	return withinLimits
}

func (q *quota) release(device string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held--
	// Devices come and go (re-registration mints new IDs): forget the
	// ones that hold nothing, so the map follows the active devices.
	if n := q.byDevice[device] - 1; n > 0 {
		q.byDevice[device] = n
	} else {
		delete(q.byDevice, device)
	}
}

// holding returns the units device holds, and all devices together.
func (q *quota) holding(device string) (byDevice, total int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.byDevice[device], q.held
}
