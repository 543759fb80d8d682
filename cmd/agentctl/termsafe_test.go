package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// hostile is what item 4 of issue 12 put in the enrollment callback's
// error parameter, and what else an edge or IdP could send: OSC 52 (set
// the clipboard), clear the screen, a right-to-left override, an 8-bit
// CSI, a carriage return and a newline that would start a line of its own.
const hostile = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202eevil\u202c\u009b31m\rfake\nDone: connected."

// rawControls are what must never reach the terminal as is.
var rawControls = []string{"\x1b", "\x07", "\u202e", "\u202c", "\u009b", "\r"}

func checkNoRawControls(t *testing.T, what, out string) {
	t.Helper()
	for _, c := range rawControls {
		if strings.Contains(out, c) {
			t.Errorf("%s prints %q raw:\n%q", what, c, out)
		}
	}
}

// checkEscaped also checks the text is shown, escaped, not dropped.
func checkEscaped(t *testing.T, what, out string) {
	t.Helper()
	checkNoRawControls(t, what, out)
	if !strings.Contains(out, `\u001b]52;c;cHduZWQ=\u0007\u001b[2J\u202eevil`) {
		t.Errorf("%s does not show the hostile text escaped:\n%q", what, out)
	}
	if strings.Contains(out, "\nDone: connected.") {
		t.Errorf("%s lets outside text start a line of its own:\n%q", what, out)
	}
}

func hostileStatus() ipcproto.Status {
	return ipcproto.Status{
		State: ipcproto.StateReauthRequired, Message: hostile, ReauthURL: "http://acme.localhost:8781/" + hostile,
		Registration: &ipcproto.Registration{User: hostile, Team: hostile, IdP: hostile, DeviceID: hostile},
		Tunnel:       &ipcproto.Tunnel{Mode: hostile, ProxyAddr: hostile, Endpoint: hostile, Addresses: []string{hostile}},
	}
}

func TestStatusEscapesWhatTheDaemonSays(t *testing.T) {
	f := &fakeAgent{status: hostileStatus()}
	sock := startDaemon(t, f)
	out, errOut, code := agentctl(t, sock, "status")
	if code != 0 {
		t.Fatalf("status: exit %d %s", code, errOut)
	}
	checkEscaped(t, "status", out)

	// --json stays JSON, and means what the daemon said.
	out, _, code = agentctl(t, sock, "status", "--json")
	checkNoRawControls(t, "status --json", out)
	var st ipcproto.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status --json: exit %d, not JSON: %q", code, out)
	}
	if st.Message != hostile || st.Registration.User != hostile {
		t.Fatalf("status --json changed the daemon's text: %q", st.Message)
	}
}

func TestErrorsEscapeWhatTheDaemonSays(t *testing.T) {
	f := &fakeAgent{status: ipcproto.Status{State: ipcproto.StateUnregistered}, regErr: apierror.New(ipcproto.CodeConflict, hostile, hostile)}
	sock := startDaemon(t, f)
	out, errOut, code := agentctl(t, sock, "register", "--no-browser", "--wait", "0")
	if code != exitFailure {
		t.Fatalf("register: exit %d\n%s%s", code, out, errOut)
	}
	checkEscaped(t, "register's error", errOut)

	// The enrollment fails with the callback's error text (the attack of
	// item 4), while register waits.
	f = &fakeAgent{status: ipcproto.Status{State: ipcproto.StateUnregistered}, authURL: "http://acme.localhost:8781/warp"}
	f.onRegister = func() { f.emit(ipcproto.EventError, ipcproto.ErrorEvent{Code: "enrollment_failed", Message: hostile}) }
	sock = startDaemon(t, f)
	out, errOut, code = agentctl(t, sock, "register", "--no-browser", "--wait", "20s")
	if code != exitFailure {
		t.Fatalf("register with a failing enrollment: exit %d\n%s%s", code, out, errOut)
	}
	checkEscaped(t, "register's failed enrollment", errOut)
	checkNoRawControls(t, "register's output", out)
}

// lockedBuffer is a bytes.Buffer that watch may write while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// wrote, when set, gets a value (if it has room) after each write.
	wrote chan struct{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.wrote != nil {
		select {
		case b.wrote <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// watchHostile runs watch with args, sends hostile events, and returns
// what it printed once it opened the marker that follows them.
func watchHostile(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	f := &fakeAgent{status: hostileStatus(), subscribed: make(chan struct{}, 1)}
	sock := startDaemon(t, f)
	const marker = "http://acme.localhost:8781/marker"
	opened := make(chan struct{})
	var out, errb lockedBuffer
	a := &app{stdout: &out, stderr: &errb, open: func(_ context.Context, u string) error {
		if u == marker {
			close(opened)
			return nil
		}
		return errors.New("refused: " + u)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- runApp(ctx, a, append(args, "--open-browser", "--socket", sock)) }()
	select {
	case <-f.subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not subscribe")
	}
	f.emit(ipcproto.EventStateChanged, ipcproto.StateChanged{From: ipcproto.StateConnected, To: ipcproto.State(hostile), Message: hostile})
	f.emit(ipcproto.EventError, ipcproto.ErrorEvent{Code: hostile, Message: hostile})
	f.emit(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: "http://acme.localhost:8781/" + hostile, Reason: hostile})
	f.emit(ipcproto.EventSessionExpired, ipcproto.SessionExpired{PolicyName: hostile, Filter: hostile})
	f.emit(hostile, map[string]string{"x": hostile})
	// Events are handled in order: once the marker is opened, the
	// hostile ones were all printed.
	f.emit(ipcproto.EventBrowseToURL, ipcproto.BrowseToURL{URL: marker, Reason: "reauth"})
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatalf("watch did not reach the marker:\n%s\n%s", out.String(), errb.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("watch: exit %d %s", code, errb.String())
	}
	return out.String(), errb.String()
}

func TestWatchEscapesWhatTheDaemonSays(t *testing.T) {
	out, errOut := watchHostile(t, "watch")
	checkEscaped(t, "watch", out)
	checkNoRawControls(t, "watch's errors", errOut)
	if !strings.Contains(errOut, `could not open http://acme.localhost:8781/\u001b]52`) {
		t.Errorf("watch's refusal to open the URL does not show it escaped:\n%q", errOut)
	}

	out, _ = watchHostile(t, "watch", "--json")
	checkNoRawControls(t, "watch --json", out)
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		var ev ipcproto.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("watch --json line %q is not JSON: %v", sc.Text(), err)
		}
		if ev.Type == ipcproto.EventError {
			var e ipcproto.ErrorEvent
			if json.Unmarshal(ev.Data, &e) != nil || e.Message != hostile {
				t.Errorf("watch --json changed the event's text: %q", ev.Data)
			}
		}
		n++
	}
	if n < 7 {
		t.Fatalf("watch --json printed %d events, want the snapshot and 6:\n%s", n, out)
	}
}
