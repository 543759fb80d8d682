package session

import (
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
)

func sampleRegistration() *Registration {
	return &Registration{
		DeviceID:            "dev-1",
		DeviceToken:         secret.New("device-token"),
		WireGuardPrivateKey: secret.New("wg-private-key"),
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

func TestRegistrationValidate(t *testing.T) {
	if err := sampleRegistration().Validate(); err != nil {
		t.Fatal(err)
	}
	if got := sampleRegistration().EdgeClock().Offset; got != -3*time.Hour {
		t.Fatalf("edge clock offset %v", got)
	}
	r := sampleRegistration()
	r.DeviceToken = secret.Value{}
	r.Team.Domain = ""
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "device_token") || !strings.Contains(err.Error(), "team.domain") {
		t.Fatalf("incomplete registration: %v", err)
	}
	r = sampleRegistration()
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
