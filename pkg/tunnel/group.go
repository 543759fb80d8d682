package tunnel

import "sync"

// group counts running tasks; once closed it admits no new one, so waiting
// for it cannot race with a late start (which sync.WaitGroup forbids).
type group struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	closed bool
}

func (g *group) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *group) leave() { g.wg.Done() }

func (g *group) closeAndWait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
