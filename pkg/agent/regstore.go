package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/session"
	"github.com/ztagent/ztagent/platform/keyring"
)

// errNotRegistered is returned by regStore.Load when the keyring holds no
// registration.
var errNotRegistered = errors.New("device is not registered")

// registrationKey is the keyring item holding the whole registration. One
// item, written atomically, means a crash leaves the old registration or the
// new one, never half of each.
const registrationKey = "registration"

// recordVersion is the format of the stored record; bump it on incompatible
// changes and teach load to read the old one. Records written by
// pkg/session's Store, where this code lived before, are this format.
const recordVersion = 1

// regStore keeps the registration, with its secrets and the IdP auth_time, in
// a keyring. It is safe for concurrent use.
type regStore struct {
	kr keyring.Store
	mu sync.Mutex // serialises read-modify-write updates
}

// newRegStore returns a store on top of kr.
func newRegStore(kr keyring.Store) *regStore { return &regStore{kr: kr} }

// Backend returns the keyring backend's name.
func (s *regStore) Backend() string { return s.kr.Backend() }

// Load returns the stored registration, errNotRegistered when there is none,
// or an error wrapping keyring.ErrUnavailable when the keyring cannot answer.
func (s *regStore) Load(ctx context.Context) (*session.Registration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx)
}

// Save replaces the stored registration with r after validating it.
func (s *regStore) Save(ctx context.Context, r *session.Registration) error {
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
func (s *regStore) Refresh(ctx context.Context, authTime, serverTime, receivedAt time.Time, groups []string) (*session.Registration, error) {
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
func (s *regStore) Delete(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.kr.Delete(ctx, registrationKey); err != nil {
		return fmt.Errorf("delete registration from the %s keyring: %w", s.kr.Backend(), err)
	}
	return nil
}

// regRecord is the stored form: the registration with its secrets in clear, as
// only the keyring may hold them.
type regRecord struct {
	Version             int            `json:"version"`
	DeviceID            string         `json:"device_id"`
	DeviceToken         string         `json:"device_token"`
	WireGuardPrivateKey string         `json:"wg_private_key"`
	User                session.User   `json:"user"`
	IdP                 session.IdP    `json:"idp"`
	AuthTime            time.Time      `json:"auth_time"`
	ServerTime          time.Time      `json:"server_time"`
	ReceivedAt          time.Time      `json:"received_at"`
	Team                session.Team   `json:"team"`
	Tunnel              session.Tunnel `json:"tunnel"`
	RegisteredAt        time.Time      `json:"registered_at"`
	OperatorUID         *int           `json:"operator_uid,omitempty"`
	EnrolledVia         string         `json:"enrolled_via,omitempty"`
	ServiceToken        string         `json:"service_token,omitempty"`
}

func (s *regStore) load(ctx context.Context) (*session.Registration, error) {
	b, err := s.kr.Get(ctx, registrationKey)
	if errors.Is(err, keyring.ErrNotFound) {
		return nil, errNotRegistered
	}
	if err != nil {
		return nil, fmt.Errorf("read registration from the %s keyring: %w", s.kr.Backend(), err)
	}
	var rec regRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("the registration in the %s keyring is unreadable (%v); run \"agentctl logout\" and register again", s.kr.Backend(), err)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("the registration in the %s keyring has format %d, but this ztagent reads format %d; upgrade ztagent, or run \"agentctl logout\" and register again", s.kr.Backend(), rec.Version, recordVersion)
	}
	r := &session.Registration{
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
		EnrolledVia:         rec.EnrolledVia,
		ServiceToken:        rec.ServiceToken,
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("the registration in the %s keyring is damaged (%v); run \"agentctl logout\" and register again", s.kr.Backend(), err)
	}
	return r, nil
}

func (s *regStore) save(ctx context.Context, r *session.Registration) error {
	b, err := json.Marshal(regRecord{
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
		EnrolledVia:         r.EnrolledVia,
		ServiceToken:        r.ServiceToken,
	})
	if err != nil {
		return err
	}
	if err := s.kr.Set(ctx, registrationKey, b); err != nil {
		return fmt.Errorf("write registration to the %s keyring: %w", s.kr.Backend(), err)
	}
	return nil
}
