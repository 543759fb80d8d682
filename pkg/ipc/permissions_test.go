package ipc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
	"github.com/ztagent/ztagent/platform/peercred"
)

// limitedBackend refuses disconnects by anyone but root, as the agent
// does under the MDM file's switch_locked.
type limitedBackend struct{ *fakeBackend }

func (limitedBackend) Refusal(c Caller, method, path string) error {
	if method == http.MethodPost && path == "/v1/disconnect" && !c.IsRoot() {
		return apierror.New(ipcproto.CodeSwitchLocked, "the switch is locked", "ask your administrator")
	}
	return nil
}

func verdicts(p ipcproto.Permissions) map[string]bool {
	out := map[string]bool{}
	for _, a := range p.Actions {
		out[a.Command] = a.Allowed
	}
	return out
}

func TestPermissionsFollowTheTableAndTheBackendsLimits(t *testing.T) {
	ts := startServer(t, nil, nil)
	ctx := context.Background()

	// The client's own answer covers every state-changing route and no read.
	p, err := ts.client.Permissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, r := range Routes() {
		if r.Method != http.MethodGet {
			want++
		}
	}
	if len(p.Actions) != want || p.UID != os.Getuid() || !p.Operator {
		t.Fatalf("Permissions() = %+v, want %d actions for uid %d as operator", p, want, os.Getuid())
	}

	ts.fake.operator = 1000
	op := verdicts(ts.srv.permissionsFor(ctx, Caller{UID: 1000}, nil))
	for _, cmd := range []string{"agentctl connect", "agentctl disconnect", "agentctl reauth", "agentctl logout", "agentctl settings set"} {
		if !op[cmd] {
			t.Errorf("the operator may not %s", cmd)
		}
	}
	if op["agentctl register"] {
		t.Error("the operator of a registered device may register it again")
	}
	other := ts.srv.permissionsFor(ctx, Caller{UID: uidOther}, nil)
	for _, a := range other.Actions {
		if a.Allowed || a.Code != ipcproto.CodePermissionDenied || a.Message == "" || a.Hint == "" {
			t.Errorf("another user: %+v, want a refusal that says why", a)
		}
	}
	if other.Operator || other.Root {
		t.Errorf("another user is %+v", other)
	}
	root := ts.srv.permissionsFor(ctx, Caller{UID: 0}, nil)
	if !root.Root || len(verdicts(root)) != want || !root.Allows("agentctl register") {
		t.Errorf("root: %+v", root)
	}

	ts.srv.backend = limitedBackend{ts.fake}
	locked := ts.srv.permissionsFor(ctx, Caller{UID: 1000}, nil)
	for _, a := range locked.Actions {
		if a.Command == "agentctl disconnect" && (a.Allowed || a.Code != ipcproto.CodeSwitchLocked) {
			t.Errorf("a locked switch: %+v", a)
		}
	}
	if !locked.Allows("agentctl connect") || locked.Allows("agentctl disconnect") || locked.Allows("agentctl nonsense") {
		t.Errorf("Allows under a locked switch: %+v", locked)
	}
	if !ts.srv.permissionsFor(ctx, Caller{UID: 0}, nil).Allows("agentctl disconnect") {
		t.Error("the lock refused root")
	}
}

// Where agentd cannot read who calls, it answers what anyone may read
// and refuses every state change, saying why; it never allows them.
func TestUnknownIdentityIsReadOnly(t *testing.T) {
	ts := startServer(t, nil, func(s *Server) {
		s.peerCred = func(net.Conn) (peercred.Cred, error) { return peercred.Cred{}, peercred.ErrUnsupported }
	})
	ctx := context.Background()
	for _, r := range Routes() {
		var err error
		call := func() { err = callRoute(ctx, ts.client, r) }
		if r.Who == RootOrUnregistered {
			ts.whileUnregistered(call)
		} else {
			call()
		}
		var e *apierror.Error
		switch {
		case r.Who == Anyone && err != nil:
			t.Errorf("%s, a read, was refused: %v", routeKey(r), err)
		case r.Who != Anyone && (!errors.As(err, &e) || e.Code != ipcproto.CodePermissionDenied ||
			!strings.Contains(e.Message, "only read-only requests") || !strings.Contains(e.Message, "not supported")):
			t.Errorf("%s, a change, answered %v; want permission_denied saying why", routeKey(r), err)
		}
	}
	p, err := ts.client.Permissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		if a.Allowed {
			t.Errorf("an unidentified caller may %s", a.Command)
		}
	}
	ts.fake.mu.Lock()
	defer ts.fake.mu.Unlock()
	for _, c := range ts.fake.calls {
		if c == "connect" || c == "disconnect" || c == "leave" || strings.HasPrefix(c, "register") || c == "reauth" || c == "set_settings" {
			t.Errorf("the backend was asked to %s for an unidentified caller", c)
		}
	}
}

// The permission table decides alike whatever kind of identity the system
// gives: a unix uid (Linux SO_PEERCRED, macOS LOCAL_PEERCRED) or a
// Windows pipe client's token (SYSTEM and elevated administrators as
// root, a user by their SID).
func TestPermissionsWithEachSystemsIdentity(t *testing.T) {
	const aliceSID = "S-1-5-21-1004336348-1177238915-682003330-1001"
	const bobSID = "S-1-5-21-1004336348-1177238915-682003330-1002"
	var who atomic.Pointer[peercred.Cred]
	ts := startServer(t, nil, func(s *Server) {
		s.peerCred = func(net.Conn) (peercred.Cred, error) { return *who.Load(), nil }
	})
	cases := []struct {
		name        string
		cred        peercred.Cred
		operator    int
		root, may   bool
		mayRegister bool
	}{
		{"linux operator", peercred.Cred{UID: 1000, GID: 1000, PID: 7}, 1000, false, true, false},
		{"macOS other user", peercred.Cred{UID: 501, GID: 20, PID: 8}, 502, false, false, false},
		{"unix root", peercred.Cred{UID: 0, PID: 9}, 1000, true, true, true},
		{"windows operator", peercred.WindowsCred(aliceSID, 10, false), peercred.SIDUID(aliceSID), false, true, false},
		{"windows other user", peercred.WindowsCred(bobSID, 11, false), peercred.SIDUID(aliceSID), false, false, false},
		{"windows elevated administrator", peercred.WindowsCred(bobSID, 12, true), peercred.SIDUID(aliceSID), true, true, true},
		{"windows SYSTEM", peercred.WindowsCred(peercred.SIDLocalSystem, 4, false), peercred.SIDUID(aliceSID), true, true, true},
	}
	for _, c := range cases {
		who.Store(&c.cred)
		ts.fake.mu.Lock()
		ts.fake.operator = c.operator
		ts.fake.mu.Unlock()
		cl := NewClient(ts.sock) // a new connection: identity is read per connection
		p, err := cl.Permissions(context.Background())
		cl.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.Root != c.root || p.Allows("agentctl disconnect") != c.may || p.Allows("agentctl register") != c.mayRegister {
			t.Errorf("%s: root %v, disconnect %v, register %v; want %v, %v, %v", c.name,
				p.Root, p.Allows("agentctl disconnect"), p.Allows("agentctl register"), c.root, c.may, c.mayRegister)
		}
	}
}
