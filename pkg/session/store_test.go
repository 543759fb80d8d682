package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/platform/keyring"
)

const (
	tokenCanary = "CANARY-device-token-9b2e"
	keyCanary   = "CANARY-wg-private-key-41c7"
)

func sampleRegistration() *Registration {
	return &Registration{
		DeviceID:            "dev-1",
		DeviceToken:         secret.New(tokenCanary),
		WireGuardPrivateKey: secret.New(keyCanary),
		User:                User{Email: "alice@example.com", Name: "Alice", Groups: []string{"engineering"}},
		IdP:                 IdP{Type: "azureAD", Prompt: "login"},
		AuthTime:            t0,
		ServerTime:          t0.Add(time.Second),
		ReceivedAt:          t0.Add(time.Second + 3*time.Hour), // device clock 3h ahead
		Team:                Team{Name: "acme", Domain: "http://acme.localhost:8781", RefreshIdentityURL: "http://acme.localhost:8781" + RefreshIdentityPath},
		Tunnel: Tunnel{Endpoint: "127.0.0.1:2408", EdgePublicKey: "edge-pub", Addresses: []string{"100.96.0.2/32"},
			DNS: []string{"100.96.0.1"}, AllowedIPs: []string{"0.0.0.0/0"}, MTU: 1280},
		RegisteredAt: t0,
	}
}

func TestStoreRoundTripKeepsSecrets(t *testing.T) {
	ctx := context.Background()
	kr := keyring.NewMemory()
	s := NewStore(kr)
	if _, err := s.Load(ctx); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Load on empty keyring: %v", err)
	}
	want := sampleRegistration()
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeviceToken.Reveal() != tokenCanary || got.WireGuardPrivateKey.Reveal() != keyCanary {
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
		if strings.Contains(out, tokenCanary) || strings.Contains(out, keyCanary) {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Load after Delete: %v", err)
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestS2_RefreshResetsAuthTimeAndGroups(t *testing.T) {
	ctx := context.Background()
	s := NewStore(keyring.NewMemory())
	if err := s.Save(ctx, sampleRegistration()); err != nil {
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
	if !stored.AuthTime.Equal(later) || stored.DeviceToken.Reveal() != tokenCanary {
		t.Fatalf("stored %+v", stored)
	}
	// nil groups keep the old ones.
	r, _ = s.Refresh(ctx, later.Add(time.Hour), later.Add(time.Hour), later.Add(time.Hour), nil)
	if len(r.User.Groups) != 2 {
		t.Fatalf("groups dropped: %v", r.User.Groups)
	}
	if _, err := NewStore(keyring.NewMemory()).Refresh(ctx, later, later, later, nil); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("Refresh without registration: %v", err)
	}
}

func TestStoreRejectsIncompleteAndDamagedRecords(t *testing.T) {
	ctx := context.Background()
	kr := keyring.NewMemory()
	s := NewStore(kr)
	bad := sampleRegistration()
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

func TestStoreReportsUnavailableKeyring(t *testing.T) {
	kr := keyring.NewMemory()
	kr.Close()
	_, err := NewStore(kr).Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "memory keyring") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegistrationValidate(t *testing.T) {
	r := sampleRegistration()
	r.AuthTime = r.ServerTime.Add(time.Minute)
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "after the edge's server_time") {
		t.Fatalf("auth_time after server_time: %v", err)
	}
	r = sampleRegistration()
	r.Team.Domain = "ftp://acme"
	if err := r.Validate(); err == nil {
		t.Fatal("ftp team domain accepted")
	}
}
