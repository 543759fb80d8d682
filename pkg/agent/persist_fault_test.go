package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ztagent/ztagent/internal/testenv/fulldisk"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// failingWrites makes every write of agent.json fail once armed, as a full
// disk does.
type failingWrites struct{ armed atomic.Bool }

func (f *failingWrites) write(path string, data []byte) error {
	if f.armed.Load() {
		return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	}
	return writeAtomic(path, data)
}

// Issue 12.12: on a full disk, disconnect and settings set report the
// failure instead of success; settings are left as they were.
func TestChangesThatCannotBeSavedReportIt(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	fw := &failingWrites{}
	e.a.files.setWrite(fw.write)
	fw.armed.Store(true)

	err := e.a.Disconnect(t.Context(), ipc.Caller{UID: 0})
	var ie *apierror.Error
	if !errors.As(err, &ie) || ie.Code != ipcproto.CodeStateNotSaved || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Disconnect on a full disk: %v, want %s naming the restart", err, ipcproto.CodeStateNotSaved)
	}
	before := e.a.Settings(t.Context())
	err = e.a.SetSettings(t.Context(), ipcproto.Settings{ProxyAddr: "127.0.0.1:40123"})
	if !errors.As(err, &ie) || ie.Code != ipcproto.CodeStateNotSaved {
		t.Fatalf("SetSettings on a full disk: %v", err)
	}
	if after := e.a.Settings(t.Context()); after != before {
		t.Fatalf("settings changed although not saved: %+v, was %+v", after, before)
	}
	fw.armed.Store(false)
	if err := e.a.SetSettings(t.Context(), ipcproto.Settings{ProxyAddr: "127.0.0.1:40123"}); err != nil {
		t.Fatalf("SetSettings once the disk has room: %v", err)
	}
}

// Issue 12.12 on a real full filesystem: a 64 KiB tmpfs holds the state
// directory, a filler takes the rest, and disconnect says it was not saved.
func TestDisconnectOnAFullTmpfsReportsIt(t *testing.T) {
	mnt := fulldisk.Mount(t, "64k")
	e := newEnv(t, func(o *Options) { o.StateDir = filepath.Join(mnt, "state") })
	e.enroll(1000)
	fulldisk.Fill(t, filepath.Join(mnt, "filler"))
	err := e.a.Disconnect(t.Context(), ipc.Caller{UID: 0})
	var ie *apierror.Error
	if !errors.As(err, &ie) || ie.Code != ipcproto.CodeStateNotSaved {
		t.Fatalf("Disconnect on a full tmpfs: %v", err)
	}
}

// Issue 12.13: a crash after the keyring write but before agent.json
// named the operator used to lock the user who registered out. The
// operator travels in the keyring record, and the restarted agent knows it.
func TestOperatorSurvivesACrashBeforeTheStateFile(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	e.stop()
	// What agent.json held before the registration: no operator.
	path := filepath.Join(e.dir, stateFileName)
	var p persisted
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &p) != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	p.OperatorUID = nil
	b, _ = json.Marshal(p)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.waitState(ipcproto.StateConnected)
	if uid, ok := e.a.Operator(); uid != 1000 || !ok {
		t.Fatalf("operator after the crash: %d %v, want 1000", uid, ok)
	}
}

// Issue 12.13: temporary files of writes a SIGKILL interrupted are removed
// at the next start instead of piling up, and a second agent on the same
// state directory is refused while the first runs.
func TestLeftoverTempFilesRemovedAndStateDirLocked(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	if _, err := New(e.opts); err == nil || !strings.Contains(err.Error(), "already uses the state directory") {
		t.Fatalf("a second agent on the same state directory: %v", err)
	}
	e.stop()
	left := filepath.Join(e.dir, "."+stateFileName+"123456")
	if err := os.WriteFile(left, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.waitState(ipcproto.StateUnregistered)
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover temp file after a restart: %v", err)
	}
}
