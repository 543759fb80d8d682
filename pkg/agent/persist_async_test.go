package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// gatedWrites holds every write of agent.json until released, as a slow
// disk does, and counts them.
type gatedWrites struct {
	gate    chan struct{}
	started chan struct{}
	writes  atomic.Int32
}

func (g *gatedWrites) write(path string, data []byte) error {
	g.writes.Add(1)
	select {
	case g.started <- struct{}{}:
	default:
	}
	<-g.gate
	return writeAtomic(path, data)
}

// Issue 20.3: the control stream's events are handled while agent.json is
// on its way to the disk, a burst's writes coalesce, and the resume point
// that reaches the file is the last event's.
func TestEventsDoNotWaitForTheStateFile(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	g := &gatedWrites{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	e.a.files.setWrite(g.write)

	var last int64
	for i := range 5 {
		auth := t0.Add(time.Duration(i+1) * time.Minute)
		e.edge.setNow(auth)
		last = e.edge.appendEvent(control.EventSessionRefreshed, control.SessionRefreshed{AuthTime: auth, Groups: []string{"engineering"}})
		// Handled and published although the first write is still held.
		e.waitEvent(ipcproto.EventSessionRefreshed)
		if i == 0 {
			select {
			case <-g.started:
			case <-time.After(30 * time.Second):
				t.Fatal("no write of agent.json began after the first event")
			}
		}
	}
	if n := g.writes.Load(); n != 1 {
		t.Fatalf("%d writes began while the first was held, want 1 (the rest wait as one)", n)
	}
	close(g.gate)
	path := filepath.Join(e.dir, stateFileName)
	resumesAt := func() int64 {
		var p persisted
		b, _ := os.ReadFile(path)
		_ = json.Unmarshal(b, &p)
		return p.LastSeq
	}
	if err := waitCond(func() bool { return resumesAt() == last }); err != nil {
		t.Fatalf("agent.json resumes after %d, want the last event %d", resumesAt(), last)
	}
	if n := g.writes.Load(); n != 2 {
		t.Errorf("five events took %d writes, want 2 (one held, one for the rest)", n)
	}
}
