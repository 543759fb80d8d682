package ipc

import (
	"strconv"
	"sync"
)

// slotTable hands out a bounded resource (connections, event streams) per
// uid, so that no local user can take what another needs. Each uid may hold
// at most perUser slots. Ordinary users, neither root nor the operator, also
// share a pool of at most shared slots between them; root and the operator
// are not counted in that pool, so whatever the other users hold, root and
// the operator always have perUser slots of their own: the people who can
// fix a device are never locked out of it by somebody else's connections.
type slotTable struct {
	perUser int
	shared  int

	mu         sync.Mutex
	byUID      map[int]int
	sharedUsed int
}

func newSlotTable(perUser, shared int) *slotTable {
	return &slotTable{perUser: perUser, shared: shared, byUID: map[int]int{}}
}

// slot is one granted slot; release returns it.
type slot struct {
	uid int
	// pooled marks a slot taken from the shared pool, so that release
	// returns it there even if the uid became the operator meanwhile.
	pooled bool
}

// refusal says why a slot was refused.
type refusal int

const (
	granted refusal = iota
	// ownLimit: this uid already holds perUser slots.
	ownLimit
	// poolFull: the ordinary users together hold the whole shared pool.
	poolFull
)

// acquire grants uid a slot, unless it is at its own limit or, for an
// ordinary user (privileged false), the shared pool is full.
func (t *slotTable) acquire(uid int, privileged bool) (slot, refusal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byUID[uid] >= t.perUser {
		return slot{}, ownLimit
	}
	if !privileged {
		if t.sharedUsed >= t.shared {
			return slot{}, poolFull
		}
		t.sharedUsed++
	}
	t.byUID[uid]++
	return slot{uid: uid, pooled: !privileged}, granted
}

// release returns s.
func (t *slotTable) release(s slot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.pooled {
		t.sharedUsed--
	}
	if t.byUID[s.uid]--; t.byUID[s.uid] <= 0 {
		delete(t.byUID, s.uid)
	}
}

// held returns how many slots uid holds.
func (t *slotTable) held(uid int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byUID[uid]
}

// total returns how many slots are held altogether.
func (t *slotTable) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.byUID {
		n += c
	}
	return n
}

// refusalMessage words a refusal of what (“IPC connections”, “event
// streams”) for the person whose uid was refused: over their own limit, it
// is their own programs that hold the slots, and only they can free them.
func refusalMessage(r refusal, what string, uid, perUser int) (msg, hint string) {
	if r == ownLimit {
		return "you (uid " + strconv.Itoa(uid) + ") already have " + strconv.Itoa(perUser) + " open " + what + " to agentd, the most one user may have",
			"these are your own programs' " + what + ": close other agentctl or tray instances of yours, then try again"
	}
	return "agentd's " + what + " for users other than root and the device's operator are all taken, by other users",
		"try again shortly, or run the command with sudo"
}
