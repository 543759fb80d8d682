package registry

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
)

func TestRegisterAuthenticateGetList(t *testing.T) {
	f := newFixture(t)
	d, tok, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID == "" || d.State != StateActive || d.UserEmail != "alice@acme.test" || !d.RegisteredAt.Equal(epoch) {
		t.Fatalf("device = %+v", d)
	}
	if tok.IsZero() || len(tok.Reveal()) < 40 {
		t.Fatalf("token too short: %d", len(tok.Reveal()))
	}
	got, err := f.r.Authenticate(ctx, tok)
	if err != nil || got.ID != d.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if _, err := f.r.Authenticate(ctx, secret.New("not-a-token-at-all")); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("bad token: %v", err)
	}
	g, err := f.r.Get(ctx, d.ID)
	if err != nil || g.WGPublicKey != wgKey(1) || !slices.Equal(g.Groups, []string{"eng"}) || len(g.Addresses) != 1 {
		t.Fatalf("Get = %+v, %v", g, err)
	}
	if _, err := f.r.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}
	d2, _, err := f.r.Register(ctx, f.reg("bob@acme.test", "fp-2", 2))
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.r.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != d.ID || list[1].ID != d2.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, _, err := f.r.Register(ctx, f.reg("carol@acme.test", "fp-3", 1)); !errors.Is(err, ErrKeyInUse) {
		t.Fatalf("reused WireGuard key: %v", err)
	}
	bad := f.reg("carol@acme.test", "fp-3", 3)
	bad.WGPublicKey = "short"
	if _, _, err := f.r.Register(ctx, bad); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("bad key: %v", err)
	}
}

func TestRegisterOtherUserRefusedS13(t *testing.T) {
	f := newFixture(t)
	alice, _, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.r.Register(ctx, f.reg("bob@acme.test", "fp-1", 2))
	var e *apierror.Error
	if !errors.As(err, &e) || e.Code != CodeOtherUser || e.User != "alice@acme.test" ||
		!strings.Contains(err.Error(), "alice@acme.test") {
		t.Fatalf("bob on alice's device: %v", err)
	}
	// After an admin revokes alice's device, bob may register it.
	if _, err := f.r.Revoke(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	bob, _, err := f.r.Register(ctx, f.reg("bob@acme.test", "fp-1", 2))
	if err != nil || bob.ID == alice.ID {
		t.Fatalf("bob after revoke: %+v, %v", bob, err)
	}
	// After bob leaves, alice may register it again.
	if _, err := f.r.Leave(ctx, bob.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1)); err != nil {
		t.Fatalf("alice after bob left: %v", err)
	}
}

func TestReregisterSameUserReplacesKeyAndToken(t *testing.T) {
	f := newFixture(t)
	d1, tok1, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	reg := f.reg("alice@acme.test", "fp-1", 7)
	reg.Groups = []string{"eng", "ops"}
	d2, tok2, err := f.r.Register(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if d2.ID != d1.ID || !slices.Equal(d2.Addresses, d1.Addresses) || d2.WGPublicKey != wgKey(7) ||
		!d2.AuthTime.Equal(epoch.Add(time.Hour)) || len(d2.Groups) != 2 {
		t.Fatalf("re-registered = %+v, first = %+v", d2, d1)
	}
	if tok1.Equal(tok2) {
		t.Fatal("re-registration kept the old token")
	}
	if _, err := f.r.Authenticate(ctx, tok1); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old token: %v", err)
	}
	if _, err := f.r.Authenticate(ctx, tok2); err != nil {
		t.Fatalf("new token: %v", err)
	}
	// The old key is free again for another device.
	if _, _, err := f.r.Register(ctx, f.reg("bob@acme.test", "fp-2", 1)); err != nil {
		t.Fatal(err)
	}
}

func TestLeaveAllowedAndNotAllowed(t *testing.T) {
	f := newFixture(t)
	d, tok, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.r.Leave(ctx, d.ID, false)
	var e *apierror.Error
	if !errors.As(err, &e) || e.Code != CodeNotAllowedLeave {
		t.Fatalf("leave not allowed: %v", err)
	}
	if _, err := f.r.Authenticate(ctx, tok); err != nil {
		t.Fatalf("refused leave changed the device: %v", err)
	}
	left, err := f.r.Leave(ctx, d.ID, true)
	if err != nil || left.State != StateLeft {
		t.Fatalf("leave = %+v, %v", left, err)
	}
	if _, err := f.r.Authenticate(ctx, tok); !errors.Is(err, ErrLeft) {
		t.Fatalf("token after leave: %v", err)
	}
	if _, err := f.r.Leave(ctx, d.ID, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second leave: %v", err)
	}
	if _, err := f.r.Leave(ctx, "unknown", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("leave unknown: %v", err)
	}
}

func TestRevokeRejectsTokenAndSignalsS14(t *testing.T) {
	f := newFixture(t)
	d, tok, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := f.r.Revoke(ctx, d.ID)
	if err != nil || rev.State != StateRevoked {
		t.Fatalf("Revoke = %+v, %v", rev, err)
	}
	if _, err := f.r.Authenticate(ctx, tok); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := f.r.Revoke(ctx, d.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	evs, err := f.r.After(ctx, d.ID, 0, 0)
	if err != nil || len(evs) != 1 || evs[0].Type != EventDeviceRevoked {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	audit, err := f.r.AuditAfter(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range audit {
		kinds = append(kinds, a.Kind)
	}
	if !slices.Equal(kinds, []string{"device_registered", "device_revoked"}) {
		t.Fatalf("audit kinds = %v", kinds)
	}
	if _, err := f.r.Revoke(ctx, "unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestRefreshUpdatesEveryDeviceOfUserS2S12(t *testing.T) {
	f := newFixture(t)
	a1, _, _ := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	a2, _, _ := f.r.Register(ctx, f.reg("alice@acme.test", "fp-2", 2))
	b, _, err := f.r.Register(ctx, f.reg("bob@acme.test", "fp-3", 3))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	later := f.clock.Now()
	got, err := f.r.Refresh(ctx, "alice@acme.test", later, []string{"finance"})
	if err != nil || len(got) != 2 {
		t.Fatalf("Refresh = %+v, %v", got, err)
	}
	for _, id := range []string{a1.ID, a2.ID} {
		d, _ := f.r.Get(ctx, id)
		if !d.AuthTime.Equal(later) || !slices.Equal(d.Groups, []string{"finance"}) {
			t.Fatalf("device %s after refresh = %+v", id, d)
		}
		evs, _ := f.r.After(ctx, id, 0, 0)
		if len(evs) != 1 || evs[0].Type != EventSessionRefreshed || !strings.Contains(string(evs[0].Payload), "finance") {
			t.Fatalf("events of %s = %+v", id, evs)
		}
	}
	if d, _ := f.r.Get(ctx, b.ID); !d.AuthTime.Equal(epoch) {
		t.Fatalf("bob's device changed: %+v", d)
	}
	// An older authentication never rolls auth_time back.
	got, err = f.r.Refresh(ctx, "alice@acme.test", epoch.Add(time.Hour), []string{"old"})
	if err != nil || len(got) != 0 {
		t.Fatalf("stale Refresh = %+v, %v", got, err)
	}
	if d, _ := f.r.Get(ctx, a1.ID); !d.AuthTime.Equal(later) || d.Groups[0] != "finance" {
		t.Fatalf("stale refresh rolled back: %+v", d)
	}
	// Revoked devices are not refreshed.
	f.r.Revoke(ctx, a2.ID)
	got, _ = f.r.Refresh(ctx, "alice@acme.test", later.Add(time.Minute), nil)
	if len(got) != 1 || got[0].ID != a1.ID || got[0].Groups == nil {
		t.Fatalf("refresh after revoke = %+v", got)
	}
}

func TestAddressesUniqueNeverReused(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i, want := range []string{"100.96.0.2/32", "100.96.0.3/32", "100.96.0.4/32"} {
		d, _, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-"+want, i))
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Addresses) != 1 || d.Addresses[0].String() != want {
			t.Fatalf("device %d got %v, want %s (network and resolver skipped)", i, d.Addresses, want)
		}
		ids = append(ids, d.ID)
	}
	f.r.Revoke(ctx, ids[2])
	d, _, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-new", 9))
	if err != nil || d.Addresses[0].String() != "100.96.0.5/32" {
		t.Fatalf("after revoke got %v, %v; a freed address must not be reused", d.Addresses, err)
	}

	small := &fixture{t: t, path: f.path + "-small/" + FileName, clock: f.clock}
	small.open(func(o *Options) {
		o.Pool = netip.MustParsePrefix("10.9.0.0/30")
		o.Reserved = []netip.Addr{}
	})
	defer small.r.Close()
	for i, want := range []string{"10.9.0.1/32", "10.9.0.2/32"} {
		d, _, err := small.r.Register(ctx, small.reg("a@x.test", want, i))
		if err != nil || d.Addresses[0].String() != want {
			t.Fatalf("small pool: %v, %v", d.Addresses, err)
		}
	}
	_, _, err = small.r.Register(ctx, small.reg("a@x.test", "fp-3", 3))
	if !errors.Is(err, ErrPoolExhausted) || !strings.Contains(err.Error(), "address_pool") {
		t.Fatalf("exhausted pool (broadcast must be skipped): %v", err)
	}
	if list, _ := small.r.List(ctx); len(list) != 2 {
		t.Fatalf("a failed registration left %d devices", len(list))
	}
}

func TestConcurrentRegistrationsStayConsistent(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	devs := make([]Device, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() {
			devs[i], _, errs[i] = f.r.Register(ctx, f.reg("u@acme.test", "fp-"+string(rune('a'+i)), i))
		})
	}
	// Ten users race for one fingerprint: exactly one wins.
	race := make([]error, 10)
	for i := range 10 {
		wg.Go(func() {
			_, _, race[i] = f.r.Register(ctx, f.reg(string(rune('a'+i))+"@acme.test", "shared", 100+i))
		})
	}
	wg.Wait()
	addrs, ids := map[string]bool{}, map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
		addrs[devs[i].Addresses[0].String()] = true
		ids[devs[i].ID] = true
	}
	if len(addrs) != 20 || len(ids) != 20 {
		t.Fatalf("%d distinct addresses, %d distinct IDs for 20 devices", len(addrs), len(ids))
	}
	wins := 0
	for _, err := range race {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrOtherUser):
			t.Fatalf("race: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d users registered the same fingerprint", wins)
	}
	if list, _ := f.r.List(ctx); len(list) != 21 {
		t.Fatalf("List has %d devices, want 21", len(list))
	}
}

// A device re-authenticates with the IdP it enrolled with: an
// authentication through another IdP refreshes only the user's devices of
// that IdP, and those whose IdP was never recorded.
func TestRefreshFromOneIdP(t *testing.T) {
	f := newFixture(t)
	viaA, viaB, legacy := f.reg("alice@acme.test", "fp-1", 1), f.reg("alice@acme.test", "fp-2", 2), f.reg("alice@acme.test", "fp-3", 3)
	viaA.IdPID, viaB.IdPID = "idp-a", "idp-b"
	a, _, _ := f.r.Register(ctx, viaA)
	b, _, _ := f.r.Register(ctx, viaB)
	l, _, err := f.r.Register(ctx, legacy)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := f.r.Get(ctx, a.ID); d.IdPID != "idp-a" {
		t.Fatalf("device registered through idp-a records %q", d.IdPID)
	}
	f.clock.Advance(time.Hour)
	got, err := f.r.RefreshFrom(ctx, Auth{Email: "alice@acme.test", IdPID: "idp-b", AuthTime: f.clock.Now(), Claims: []string{"department=ops"}})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	want := []string{b.ID, l.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("refreshed %v, want the idp-b device and the unrecorded one %v", ids, want)
	}
	if d, _ := f.r.Get(ctx, b.ID); !slices.Equal(d.Claims, []string{"department=ops"}) {
		t.Fatalf("claims after the refresh: %q", d.Claims)
	}
	if d, _ := f.r.Get(ctx, a.ID); d.Claims != nil {
		t.Fatalf("the idp-a device got claims %q", d.Claims)
	}
}
