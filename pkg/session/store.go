package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/platform/keyring"
)

// ErrNotRegistered is returned by Store.Load when the keyring holds no
// registration.
var ErrNotRegistered = errors.New("device is not registered")

// registrationKey is the keyring item holding the whole registration. One
// item, written atomically, means a crash leaves the old registration or the
// new one, never half of each.
const registrationKey = "registration"

// recordVersion is the format of the stored record; bump it on incompatible
// changes and teach load to read the old one.
const recordVersion = 1

// Store keeps the registration, with its secrets and the IdP auth_time, in a
// keyring. It is safe for concurrent use.
type Store struct {
	kr keyring.Store
	mu sync.Mutex // serialises read-modify-write updates
}

// NewStore returns a store on top of kr.
func NewStore(kr keyring.Store) *Store { return &Store{kr: kr} }

// Backend returns the keyring backend's name.
func (s *Store) Backend() string { return s.kr.Backend() }

// Load returns the stored registration, ErrNotRegistered when there is none,
// or an error wrapping keyring.ErrUnavailable when the keyring cannot answer.
func (s *Store) Load(ctx context.Context) (*Registration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx)
}

// Save replaces the stored registration with r after validating it.
func (s *Store) Save(ctx context.Context, r *Registration) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("refusing to store an incomplete registration: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.save(ctx, r)
}

// Refresh records a new IdP authentication reported by the edge (S2, S12):
// the new auth_time, the edge's clock at the time and when we received it,
// and the user's groups as the IdP reloaded them (nil keeps the old ones).
// An auth_time older than the stored one is ignored, so a late event cannot
// roll the session back. It returns the registration as stored.
func (s *Store) Refresh(ctx context.Context, authTime, serverTime, receivedAt time.Time, groups []string) (*Registration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if authTime.Before(r.AuthTime) {
		return r, nil
	}
	r.AuthTime, r.ServerTime, r.ReceivedAt = authTime, serverTime, receivedAt
	if groups != nil {
		r.User.Groups = append([]string(nil), groups...)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if err := s.save(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Delete removes the registration (logout, revocation). Deleting when none is
// stored is not an error.
func (s *Store) Delete(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.kr.Delete(ctx, registrationKey); err != nil {
		return fmt.Errorf("delete registration from the %s keyring: %w", s.kr.Backend(), err)
	}
	return nil
}

// record is the stored form: the registration with its secrets in clear, as
// only the keyring may hold them.
type record struct {
	Version             int       `json:"version"`
	DeviceID            string    `json:"device_id"`
	DeviceToken         string    `json:"device_token"`
	WireGuardPrivateKey string    `json:"wg_private_key"`
	User                User      `json:"user"`
	IdP                 IdP       `json:"idp"`
	AuthTime            time.Time `json:"auth_time"`
	ServerTime          time.Time `json:"server_time"`
	ReceivedAt          time.Time `json:"received_at"`
	Team                Team      `json:"team"`
	Tunnel              Tunnel    `json:"tunnel"`
	RegisteredAt        time.Time `json:"registered_at"`
	OperatorUID         *int      `json:"operator_uid,omitempty"`
}

func (s *Store) load(ctx context.Context) (*Registration, error) {
	b, err := s.kr.Get(ctx, registrationKey)
	if errors.Is(err, keyring.ErrNotFound) {
		return nil, ErrNotRegistered
	}
	if err != nil {
		return nil, fmt.Errorf("read registration from the %s keyring: %w", s.kr.Backend(), err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("the registration in the %s keyring is unreadable (%v); run \"agentctl logout\" and register again", s.kr.Backend(), err)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("the registration in the %s keyring has format %d, but this ztagent reads format %d; upgrade ztagent, or run \"agentctl logout\" and register again", s.kr.Backend(), rec.Version, recordVersion)
	}
	r := &Registration{
		DeviceID:            rec.DeviceID,
		DeviceToken:         secret.New(rec.DeviceToken),
		WireGuardPrivateKey: secret.New(rec.WireGuardPrivateKey),
		User:                rec.User,
		IdP:                 rec.IdP,
		AuthTime:            rec.AuthTime,
		ServerTime:          rec.ServerTime,
		ReceivedAt:          rec.ReceivedAt,
		Team:                rec.Team,
		Tunnel:              rec.Tunnel,
		RegisteredAt:        rec.RegisteredAt,
		OperatorUID:         rec.OperatorUID,
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("the registration in the %s keyring is damaged (%v); run \"agentctl logout\" and register again", s.kr.Backend(), err)
	}
	return r, nil
}

func (s *Store) save(ctx context.Context, r *Registration) error {
	b, err := json.Marshal(record{
		Version:             recordVersion,
		DeviceID:            r.DeviceID,
		DeviceToken:         r.DeviceToken.Reveal(),
		WireGuardPrivateKey: r.WireGuardPrivateKey.Reveal(),
		User:                r.User,
		IdP:                 r.IdP,
		AuthTime:            r.AuthTime,
		ServerTime:          r.ServerTime,
		ReceivedAt:          r.ReceivedAt,
		Team:                r.Team,
		Tunnel:              r.Tunnel,
		RegisteredAt:        r.RegisteredAt,
		OperatorUID:         r.OperatorUID,
	})
	if err != nil {
		return err
	}
	if err := s.kr.Set(ctx, registrationKey, b); err != nil {
		return fmt.Errorf("write registration to the %s keyring: %w", s.kr.Backend(), err)
	}
	return nil
}
