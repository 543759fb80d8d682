package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/ztagent/ztagent/internal/atomicfile"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"go.uber.org/zap"
)

// stateFileName is the agent's non-secret state in the state directory.
const stateFileName = "agent.json"

// persisted is what the agent keeps across restarts besides the
// registration (which lives in the keyring): nothing in it is a secret.
type persisted struct {
	// Fingerprint identifies the device to the edge (S13); random, made
	// once, stable across restarts and registrations.
	Fingerprint string `json:"fingerprint"`
	// OperatorUID is the uid that registered the device.
	OperatorUID *int `json:"operator_uid,omitempty"`
	// Mode and ProxyAddr are the tunnel settings the user chose; empty
	// keeps the daemon's defaults.
	Mode      string `json:"mode,omitempty"`
	ProxyAddr string `json:"proxy_addr,omitempty"`
	// Disconnected records `agentctl disconnect`, so that a restart does
	// not reconnect against the user's wish.
	Disconnected bool `json:"disconnected,omitempty"`
	// DeviceID and LastSeq are where the control stream resumes: a restart
	// does not replay events already handled (a stale session_expired
	// would prompt again).
	DeviceID string `json:"device_id,omitempty"`
	LastSeq  int64  `json:"last_seq,omitempty"`
	// Revoked says why the edge ended the last registration, until a new
	// one: a restart shows it, and keeps the MDM file's service token
	// from enrolling the device again by itself.
	Revoked string `json:"revoked,omitempty"`
}

// stateFile reads and writes agent.json atomically (REL1: temp file,
// fsync, rename, fsync of the directory), 0600 in a 0700 directory
// (SEC8).
type stateFile struct {
	path    string
	mu      sync.Mutex // serialises writers
	initial persisted
	// release drops the state directory's lock; nil where there is none.
	release func()
	// write replaces the file's contents; writeAtomic but for tests of
	// failing disks.
	write func(path string, data []byte) error
}

// writeAtomic is REL1's write: renameio's temp file, fsync, rename and
// directory fsync.
func writeAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o600)
}

// close releases the state directory.
func (f *stateFile) close() {
	if f.release != nil {
		f.release()
	}
}

// removeLeftovers deletes the temporary files of writes a killed daemon
// never renamed (renameio names them "."+name+random digits): each crash
// would otherwise leave one more. Only the holder of the directory's lock
// may call it.
func removeLeftovers(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+stateFileName+"*"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

func openStateFile(dir string) (*stateFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the state directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() {
		return nil, fmt.Errorf("the state directory %s is not a plain directory; remove it or pick another with --state-dir", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		// Not chmod: --state-dir /tmp would lock everyone else out.
		return nil, fmt.Errorf("the state directory %s is open to other users (mode %v); agentd keeps private state there: pass a directory of its own with --state-dir, or run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	release, err := lockStateDir(dir)
	if err != nil {
		return nil, err
	}
	f := &stateFile{path: filepath.Join(dir, stateFileName), release: release, write: writeAtomic}
	if release != nil {
		removeLeftovers(dir)
	}
	b, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		f.close()
		return nil, fmt.Errorf("read %s: %w", f.path, err)
	default:
		if err := json.Unmarshal(b, &f.initial); err != nil {
			f.close()
			return nil, fmt.Errorf("%s is damaged (%v); remove it (the registration in the keyring is kept) and start agentd again", f.path, err)
		}
	}
	if f.initial.Fingerprint == "" {
		var raw [16]byte
		if _, err := rand.Read(raw[:]); err != nil {
			f.close()
			return nil, err
		}
		f.initial.Fingerprint = hex.EncodeToString(raw[:])
		if err := f.writeLocked(f.initial); err != nil {
			f.close()
			return nil, err
		}
	}
	return f, nil
}

func (f *stateFile) load() persisted { return f.initial }

func (f *stateFile) writeLocked(p persisted) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := f.write(f.path, append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// savePersisted writes the persisted part of the snapshot and returns why
// it could not. Callers change it under mu and call this after unlocking,
// so that no one waits for a disk under mu. Holding the file lock while
// copying makes the last write carry the latest state whatever order
// concurrent callers run in.
func (a *Agent) savePersisted() error {
	a.files.mu.Lock()
	defer a.files.mu.Unlock()
	return a.savePersistedLocked()
}

// savePersistedLocked is savePersisted with the file lock held.
func (a *Agent) savePersistedLocked() error {
	a.mu.Lock()
	p := a.snap.persisted
	a.mu.Unlock()
	if err := a.files.writeLocked(p); err != nil {
		a.log.Error("saving the agent's state", zap.Error(err))
		return err
	}
	return nil
}

// saveSoon saves the persisted state off the caller's path, for the
// control stream's resume point after each event: the next event is
// handled while the disk syncs, and the writes of a burst of events
// become one or two. A write is queued only when none is waiting to
// start (it waits while another is on the disk); the queued one reads
// the snapshot once it holds the file, so it carries every change made
// before it. Close waits for it (the Agent owns the
// goroutine), and once Close has begun the write happens here. A crash
// loses at most the resume point of events handled during the last write,
// which the edge then replays, as it would after a crash before a
// synchronous write.
func (a *Agent) saveSoon() {
	if !a.saveQueued.CompareAndSwap(false, true) {
		return
	}
	write := func() {
		a.files.mu.Lock()
		defer a.files.mu.Unlock()
		// Cleared only once this write holds the lock: until then it is
		// the one queued, and it reads the snapshot after this point.
		a.saveQueued.Store(false)
		_ = a.savePersistedLocked()
	}
	if !a.spawn(write) {
		write()
	}
}

// setWrite replaces how agent.json is written (tests of failing or slow
// disks), under the writers' lock.
func (f *stateFile) setWrite(w func(path string, data []byte) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.write = w
}

// notSaved is the error for a change the caller asked for that took effect
// but could not be saved, so a restart would undo it.
func notSaved(what string, err error) error {
	return errorf(ipcproto.CodeStateNotSaved,
		fmt.Sprintf("%s, but agentd could not save it (%v), so a restart of agentd would undo it", what, err),
		"free space on that disk (or fix its permissions), then run the command again")
}
