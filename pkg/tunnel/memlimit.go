package tunnel

import (
	"runtime/debug"
	"sync"
)

// The Go runtime's memory limit is process-wide, and tunnels come and go
// (Close then New on a configuration change): the first tunnel holding a
// limit sets it, the last one to close puts back what was there before.
var memLimit struct {
	mu      sync.Mutex
	holders int
	set     int64 // the limit the holders set
	prev    int64 // the limit before the first holder
}

// memoryLimitHold is a tunnel's share of the runtime memory limit.
type memoryLimitHold struct{ held bool }

// holdMemoryLimit sets the runtime's soft memory limit to limit unless it
// is already lower (GOMEMLIMIT, or the program's own choice) or limit is
// not positive; release undoes it once no tunnel holds it any more.
func holdMemoryLimit(limit int64) memoryLimitHold {
	if limit <= 0 {
		return memoryLimitHold{}
	}
	memLimit.mu.Lock()
	defer memLimit.mu.Unlock()
	if memLimit.holders > 0 {
		memLimit.holders++
		return memoryLimitHold{held: true}
	}
	cur := debug.SetMemoryLimit(-1)
	if cur <= limit {
		return memoryLimitHold{}
	}
	debug.SetMemoryLimit(limit)
	memLimit.holders, memLimit.set, memLimit.prev = 1, limit, cur
	return memoryLimitHold{held: true}
}

// release gives the tunnel's share back; the last holder restores the
// limit found, unless someone changed it meanwhile.
func (h *memoryLimitHold) release() {
	if !h.held {
		return
	}
	h.held = false
	memLimit.mu.Lock()
	defer memLimit.mu.Unlock()
	memLimit.holders--
	if memLimit.holders == 0 && debug.SetMemoryLimit(-1) == memLimit.set {
		debug.SetMemoryLimit(memLimit.prev)
	}
}
