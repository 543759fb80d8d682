package agent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/pkg/tunnel"
)

// Disconnect stops the tunnel and is remembered across a restart; Connect
// brings it back; a settings change restarts a running tunnel with the
// new proxy address, and bad settings are refused.
func TestConnectDisconnectSettings(t *testing.T) {
	e := newEnv(t)
	if err := e.a.Connect(t.Context()); !isIPCCode(err, ipcproto.CodeNotRegistered) {
		e.waitState(ipcproto.StateUnregistered)
		if err := e.a.Connect(t.Context()); !isIPCCode(err, ipcproto.CodeNotRegistered) {
			t.Fatalf("Connect while unregistered: %v", err)
		}
	}
	e.enroll(1000)
	first := e.tunnels.last()
	if err := e.a.Disconnect(t.Context(), ipc.Caller{UID: 0}); err != nil {
		t.Fatal(err)
	}
	if st := e.waitState(ipcproto.StateDisconnected); st.Tunnel != nil || !first.closed.Load() {
		t.Fatalf("after Disconnect: %+v, tunnel closed %v", st, first.closed.Load())
	}
	e.waitEvent(ipcproto.EventTunnelDown)
	e.stop()
	e.start()
	e.waitState(ipcproto.StateDisconnected)
	if err := e.a.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateConnected)

	if err := e.a.SetSettings(t.Context(), ipcproto.Settings{ProxyAddr: "0.0.0.0:40000"}); !isIPCCode(err, ipcproto.CodeBadRequest) {
		t.Fatalf("a non-loopback proxy address: %v", err)
	}
	if err := e.a.SetSettings(t.Context(), ipcproto.Settings{Mode: "bridge"}); !isIPCCode(err, ipcproto.CodeBadRequest) {
		t.Fatalf("an unknown mode: %v", err)
	}
	before := e.tunnels.last()
	if err := e.a.SetSettings(t.Context(), ipcproto.Settings{ProxyAddr: "127.0.0.1:40123"}); err != nil {
		t.Fatal(err)
	}
	after := e.tunnels.last()
	if after == before || !before.closed.Load() || after.opts.ProxyAddr != "127.0.0.1:40123" || after.opts.Mode != tunnel.ModeProxy {
		t.Fatalf("the tunnel was not restarted with the new address: %+v", after.opts)
	}
	if s := e.a.Settings(t.Context()); s.ProxyAddr != "127.0.0.1:40123" || s.Mode != "proxy" {
		t.Fatalf("Settings %+v", s)
	}
	e.stop()
	e.start()
	if s := e.a.Settings(t.Context()); s.ProxyAddr != "127.0.0.1:40123" {
		t.Fatalf("settings after a restart %+v", s)
	}
	e.waitState(ipcproto.StateConnected)
	if e.tunnels.last().opts.ProxyAddr != "127.0.0.1:40123" {
		t.Fatal("the restarted agent ignored the saved proxy address")
	}
	raw, err := e.a.Explain(t.Context(), "wiki.acme.internal:80", "tcp")
	if err != nil || !strings.Contains(string(raw), "wiki.acme.internal:80") {
		t.Fatalf("Explain %s %v", raw, err)
	}
}

// A tunnel that cannot start leaves the agent disconnected, saying why.
func TestTunnelFailure(t *testing.T) {
	e := newEnv(t)
	e.tunnels.mu.Lock()
	e.tunnels.fail = errors.New("address already in use")
	e.tunnels.mu.Unlock()
	e.enroll0(1000)
	st := e.waitState(ipcproto.StateDisconnected)
	if !strings.Contains(st.Message, "address already in use") {
		t.Fatalf("message %q", st.Message)
	}
}

// enroll0 enrolls without waiting for connected.
func (e *env) enroll0(uid int) {
	e.t.Helper()
	e.waitState(ipcproto.StateUnregistered)
	au, err := e.a.Register(e.t.Context(), ipc.Caller{UID: uid}, ipcproto.RegisterRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	get(e.t, e.callbackURL(au.AuthURL, "code-1", ""))
}

// Leave: refused when the organization forbids it (the registration
// stays), else the device is forgotten locally too.
func TestLeave(t *testing.T) {
	e := newEnv(t)
	e.enroll(1000)
	e.edge.mu.Lock()
	e.edge.leaveDenied = true
	e.edge.mu.Unlock()
	if err := e.a.Leave(t.Context()); !isIPCCode(err, ipcproto.CodeNotAllowedToLeave) {
		t.Fatalf("Leave when not allowed: %v", err)
	}
	e.waitState(ipcproto.StateConnected)
	e.edge.mu.Lock()
	e.edge.leaveDenied = false
	e.edge.mu.Unlock()
	if err := e.a.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.waitState(ipcproto.StateUnregistered)
	if _, err := newRegStore(e.kr).Load(t.Context()); !errors.Is(err, errNotRegistered) {
		t.Fatalf("after Leave the keyring holds %v", err)
	}
	if _, registered := e.a.Operator(); registered {
		t.Fatal("registered after Leave")
	}
}

// SEC5 with the fake edge: the device token, the WireGuard key and the
// enrollment code appear in no log line, event, status or error, including
// the errors of calls made after the device left.
func TestCanarySecretsStayOut(t *testing.T) {
	e := newEnv(t)
	e.waitState(ipcproto.StateUnregistered)
	au, err := e.a.Register(t.Context(), ipc.Caller{UID: 1000}, ipcproto.RegisterRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := "enrollment-code-canary-8c1f2e"
	if status, page := get(t, e.callbackURL(au.AuthURL, code, "")); status != 200 || strings.Contains(page, code) {
		t.Fatalf("callback %d %s", status, page)
	}
	e.waitState(ipcproto.StateConnected)
	reg, err := newRegStore(e.kr).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	keep := func(v any) {
		b, _ := json.Marshal(v)
		outputs = append(outputs, string(b))
	}
	keep(e.a.Status(t.Context()))
	if s, err := e.a.Session(t.Context()); err == nil {
		keep(s)
	}
	if err := e.a.Leave(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{e.a.Connect(t.Context()), e.a.Disconnect(t.Context(), ipc.Caller{UID: 0})} {
		if err == nil {
			t.Fatal("a call that needs a registration succeeded after Leave")
		}
		outputs = append(outputs, err.Error())
	}
	for _, ev := range e.drain() {
		keep(ev)
	}
	outputs = append(outputs, e.logs.String())
	for _, secret := range []string{reg.DeviceToken.Reveal(), reg.WireGuardPrivateKey.Reveal(), code} {
		for _, out := range outputs {
			if strings.Contains(out, secret) {
				t.Fatalf("a secret leaked: %.300s", out)
			}
		}
	}
	if !strings.Contains(strings.Join(outputs, "\n"), reg.DeviceID) {
		t.Fatal("the outputs checked do not even name the device: the check proves nothing")
	}
}
