package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/platform/keyring"
)

const (
	regTokenCanary = "CANARY-device-token-9b2e"
	regKeyCanary   = "CANARY-wg-private-key-41c7"
)

func regSample() *session.Registration {
	uid := 1000
	return &session.Registration{
		DeviceID:            "dev-1",
		DeviceToken:         secret.New(regTokenCanary),
		WireGuardPrivateKey: secret.New(regKeyCanary),
		User:                session.User{Email: "alice@example.com", Name: "Alice", Groups: []string{"engineering"}},
		IdP:                 session.IdP{Type: "azureAD", Prompt: "login"},
		AuthTime:            t0,
		ServerTime:          t0.Add(time.Second),
		ReceivedAt:          t0.Add(time.Second + 3*time.Hour), // device clock 3h ahead
		Team:                session.Team{Name: "acme", Domain: "http://acme.localhost:8781", RefreshIdentityURL: "http://acme.localhost:8781" + session.RefreshIdentityPath},
		Tunnel: session.Tunnel{Endpoint: "127.0.0.1:2408", EdgePublicKey: "edge-pub", Addresses: []string{"100.96.0.2/32"},
			DNS: []string{"100.96.0.1"}, AllowedIPs: []string{"0.0.0.0/0"}, MTU: 1280},
		RegisteredAt: t0,
		OperatorUID:  &uid,
	}
}

// oldRecord is regSample as pkg/session's Store (where the registration
// store lived before it moved here) wrote it to the keyring, byte for byte.
const oldRecord = `{"version":1,"device_id":"dev-1","device_token":"CANARY-device-token-9b2e","wg_private_key":"CANARY-wg-private-key-41c7","user":{"email":"alice@example.com","name":"Alice","groups":["engineering"]},"idp":{"type":"azureAD","prompt":"login"},"auth_time":"2026-03-01T09:00:00Z","server_time":"2026-03-01T09:00:01Z","received_at":"2026-03-01T12:00:01Z","team":{"name":"acme","domain":"http://acme.localhost:8781","refresh_identity_url":"http://acme.localhost:8781/cdn-cgi/access/refresh-identity"},"tunnel":{"endpoint":"127.0.0.1:2408","edge_public_key":"edge-pub","addresses":["100.96.0.2/32"],"dns":["100.96.0.1"],"allowed_ips":["0.0.0.0/0"],"mtu":1280},"registered_at":"2026-03-01T09:00:00Z","operator_uid":1000}`

// A registration saved before the store moved loads, and saving writes the
// same bytes: the keyring format did not change.
func TestRegStoreKeepsTheRecordFormat(t *testing.T) {
	ctx := context.Background()
	kr := keyring.NewMemory()
	if err := kr.Set(ctx, "registration", []byte(oldRecord)); err != nil {
		t.Fatal(err)
	}
	s := newRegStore(kr)
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := regSample()
	if got.OperatorUID == nil || *got.OperatorUID != *want.OperatorUID {
		t.Fatalf("operator uid %v, want %d", got.OperatorUID, *want.OperatorUID)
	}
	loaded := *got
	loaded.OperatorUID = want.OperatorUID // compared above; %+v prints the pointer
	if fmt.Sprintf("%+v", &loaded) != fmt.Sprintf("%+v", want) ||
		got.DeviceToken.Reveal() != regTokenCanary || got.WireGuardPrivateKey.Reveal() != regKeyCanary {
		t.Fatalf("old record loaded as\n %+v\nwant %+v", got, want)
	}
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	if b, _ := kr.Get(ctx, "registration"); string(b) != oldRecord {
		t.Fatalf("record written as\n %s\nwant %s", b, oldRecord)
	}
}

func TestRegStoreRoundTripKeepsSecrets(t *testing.T) {
	ctx := context.Background()
	kr := keyring.NewMemory()
	s := newRegStore(kr)
	if _, err := s.Load(ctx); !errors.Is(err, errNotRegistered) {
		t.Fatalf("Load on empty keyring: %v", err)
	}
	want := regSample()
	want.OperatorUID = nil // records older than the field
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeviceToken.Reveal() != regTokenCanary || got.WireGuardPrivateKey.Reveal() != regKeyCanary {
		t.Fatal("secrets did not survive the keyring")
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if got.EdgeClock().Offset != -3*time.Hour {
		t.Fatalf("edge clock offset %v", got.EdgeClock().Offset)
	}
	// The registration itself never prints or marshals its secrets.
	j, _ := json.Marshal(got)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", got, got, *got), string(j)} {
		if strings.Contains(out, regTokenCanary) || strings.Contains(out, regKeyCanary) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, errNotRegistered) {
		t.Fatalf("Load after Delete: %v", err)
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestS2_RefreshResetsAuthTimeAndGroups(t *testing.T) {
	ctx := context.Background()
	s := newRegStore(keyring.NewMemory())
	if err := s.Save(ctx, regSample()); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(2 * time.Hour)
	r, err := s.Refresh(ctx, later, later.Add(time.Second), later.Add(time.Second), []string{"engineering", "sre"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.AuthTime.Equal(later) || strings.Join(r.User.Groups, ",") != "engineering,sre" {
		t.Fatalf("after refresh %+v", r)
	}
	if r.EdgeClock().Offset != 0 {
		t.Fatalf("offset not re-measured: %v", r.EdgeClock().Offset)
	}
	// A late event about the older authentication does not roll it back.
	r, err = s.Refresh(ctx, t0, t0, t0, []string{"old"})
	if err != nil || !r.AuthTime.Equal(later) || r.User.Groups[1] != "sre" {
		t.Fatalf("stale refresh applied: %+v %v", r, err)
	}
	stored, _ := s.Load(ctx)
	if !stored.AuthTime.Equal(later) || stored.DeviceToken.Reveal() != regTokenCanary {
		t.Fatalf("stored %+v", stored)
	}
	// nil groups keep the old ones.
	r, _ = s.Refresh(ctx, later.Add(time.Hour), later.Add(time.Hour), later.Add(time.Hour), nil)
	if len(r.User.Groups) != 2 {
		t.Fatalf("groups dropped: %v", r.User.Groups)
	}
	if _, err := newRegStore(keyring.NewMemory()).Refresh(ctx, later, later, later, nil); !errors.Is(err, errNotRegistered) {
		t.Fatalf("Refresh without registration: %v", err)
	}
}

func TestRegStoreRejectsIncompleteAndDamagedRecords(t *testing.T) {
	ctx := context.Background()
	kr := keyring.NewMemory()
	s := newRegStore(kr)
	bad := regSample()
	bad.DeviceToken = secret.Value{}
	bad.Team.Domain = ""
	err := s.Save(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "device_token") || !strings.Contains(err.Error(), "team.domain") {
		t.Fatalf("Save of incomplete registration: %v", err)
	}
	for raw, want := range map[string]string{
		"not json":                     "unreadable",
		`{"version":99}`:               "format 99",
		`{"version":1,"device_id":""}`: "damaged",
	} {
		if err := kr.Set(ctx, registrationKey, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load(ctx)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "agentctl logout") {
			t.Errorf("Load of %q: %v; want %q and a way out", raw, err, want)
		}
	}
}

func TestRegStoreReportsUnavailableKeyring(t *testing.T) {
	kr := keyring.NewMemory()
	kr.Close()
	_, err := newRegStore(kr).Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "memory keyring") {
		t.Fatalf("err = %v", err)
	}
}
