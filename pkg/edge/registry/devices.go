package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

// State is a device's lifecycle state.
type State string

// Device states. Only active devices authenticate; revoked and left devices
// stay in the database (with their addresses, which are never reused) for
// the audit trail.
const (
	StateActive  State = "active"
	StateRevoked State = "revoked"
	StateLeft    State = "left"
)

// Device is a registered device as the edge knows it. It holds no secret:
// the device token exists only as a hash inside the database.
type Device struct {
	ID          string    `json:"id"`
	Fingerprint string    `json:"fingerprint"`
	UserEmail   string    `json:"user_email"`
	UserName    string    `json:"user_name"`
	Name        string    `json:"name"`
	OS          string    `json:"os"`
	Groups      []string  `json:"groups"`
	AuthTime    time.Time `json:"auth_time"`     // the IdP's auth_time of the user's last login (S1)
	WGPublicKey string    `json:"wg_public_key"` // base64, as in wg(8)
	// IdPID is the identity provider the device enrolled with, whose
	// sign-ins re-authenticate it; "" when not recorded.
	IdPID string `json:"idp_id,omitempty"`
	// Claims are the IdP's configured claims of the user's last sign-in,
	// "name=value" each (identity.oidc_claims).
	Claims []string `json:"claims,omitempty"`
	// ServiceTokenID is the service token the device enrolled with; ""
	// when a person enrolled it. Such a device has no IdP user and a zero
	// AuthTime: it never signed in.
	ServiceTokenID string         `json:"service_token_id,omitempty"`
	Addresses      []netip.Prefix `json:"addresses"`
	State          State          `json:"state"`
	RegisteredAt   time.Time      `json:"registered_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// Registration is what an enrollment tells the registry about a device and
// the user who just logged in on it.
type Registration struct {
	Fingerprint string
	UserEmail   string
	UserName    string
	Name        string
	OS          string
	Groups      []string
	AuthTime    time.Time
	WGPublicKey string
	// IdPID is the identity provider the user signed in with.
	IdPID string
	// Claims are the IdP's configured claims of that sign-in.
	Claims []string
	// ServiceTokenID is the service token that enrolled the device instead
	// of a person; AuthTime is then zero, and UserEmail the team's
	// non-identity address.
	ServiceTokenID string
}

func (g Registration) validate() error {
	if strings.TrimSpace(g.Fingerprint) == "" {
		return invalid("the registration has no device_fingerprint", "the agent must send a stable device fingerprint")
	}
	if strings.TrimSpace(g.UserEmail) == "" {
		return invalid("the registration has no user email", "the IdP login must return an email claim")
	}
	if g.AuthTime.IsZero() && g.ServiceTokenID == "" {
		return invalid("the registration has no auth_time", "the IdP's ID token must carry auth_time")
	}
	if _, err := wgkey.ParsePublic(g.WGPublicKey); err != nil {
		return invalid("wg_public_key is not a WireGuard public key", "send the 32-byte key in base64, as `wg pubkey` prints it")
	}
	return nil
}

// HashToken returns the SHA-256 of a device token, the only form in which
// tokens are stored.
func HashToken(token secret.Value) []byte {
	h := sha256.Sum256([]byte(token.Reveal()))
	return h[:]
}

func newID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("registry: generate device ID: %w", err)
	}
	return hex.EncodeToString(b), nil
}

const deviceCols = `id, fingerprint, user_email, user_name, name, os, groups, auth_time,
	wg_public_key, state, registered_at, updated_at, idp_id, claims, service_token_id`

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

type scanner interface{ Scan(dest ...any) error }

func scanDevice(s scanner) (Device, error) {
	var d Device
	var groups, state, claims string
	var auth, reg, upd int64
	if err := s.Scan(&d.ID, &d.Fingerprint, &d.UserEmail, &d.UserName, &d.Name, &d.OS, &groups, &auth,
		&d.WGPublicKey, &state, &reg, &upd, &d.IdPID, &claims, &d.ServiceTokenID); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(groups), &d.Groups); err != nil {
		return d, fmt.Errorf("registry: device %s has corrupt groups: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(claims), &d.Claims); err != nil {
		return d, fmt.Errorf("registry: device %s has corrupt claims: %w", d.ID, err)
	}
	if len(d.Claims) == 0 {
		d.Claims = nil
	}
	d.State = State(state)
	d.AuthTime, d.RegisteredAt, d.UpdatedAt = fromNanos(auth), fromNanos(reg), fromNanos(upd)
	return d, nil
}

// fromNanos and toNanos store times as Unix nanoseconds, the zero time
// (a device that never signed in) as 0.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func groupsJSON(g []string) string {
	if g == nil {
		g = []string{}
	}
	b, _ := json.Marshal(g)
	return string(b)
}

func (r *Registry) addresses(ctx context.Context, q queryer, id string) ([]netip.Prefix, error) {
	rows, err := q.QueryContext(ctx, `SELECT address FROM addresses WHERE device_id = ? ORDER BY pool, idx`, id)
	if err != nil {
		return nil, fmt.Errorf("registry: read addresses: %w", err)
	}
	defer rows.Close()
	var out []netip.Prefix
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("registry: device %s has a corrupt address %q", id, s)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (r *Registry) get(ctx context.Context, q queryer, where string, args ...any) (Device, error) {
	d, err := scanDevice(q.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE `+where, args...))
	if err != nil {
		return d, err
	}
	d.Addresses, err = r.addresses(ctx, q, d.ID)
	return d, err
}

// Register records a device enrolled by reg.UserEmail and returns it with a
// new device token, which the caller hands to the agent once and never
// keeps. One user per device (S13): when the fingerprint is active for
// another user the error has code device_registered_to_other_user and
// names that user; the same user registering again keeps the device ID and
// addresses and replaces the WireGuard key and the token (the old token
// stops working).
func (r *Registry) Register(ctx context.Context, reg Registration) (Device, secret.Value, error) {
	if err := reg.validate(); err != nil {
		return Device{}, secret.Value{}, err
	}
	token := secret.New(randtoken.New(32))
	hash := HashToken(token)
	var dev Device
	err := r.write(ctx, func(tx *sql.Tx) error {
		now := r.now()
		cur, err := r.get(ctx, tx, `fingerprint = ? AND state = 'active'`, reg.Fingerprint)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur.ID = ""
		case err != nil:
			return fmt.Errorf("registry: look up fingerprint: %w", err)
		case cur.UserEmail != reg.UserEmail:
			return &apierror.Error{Code: CodeOtherUser, User: cur.UserEmail,
				Message: fmt.Sprintf("this device is registered to %s", cur.UserEmail),
				Hint:    fmt.Sprintf("%s must leave the organization on it, or an administrator must revoke device %s, before another user can register it", cur.UserEmail, cur.ID)}
		}
		var owner string
		err = tx.QueryRowContext(ctx, `SELECT id FROM devices WHERE wg_public_key = ? AND state = 'active'`, reg.WGPublicKey).Scan(&owner)
		if err == nil && owner != cur.ID {
			return &apierror.Error{Code: CodeKeyInUse, Message: "this WireGuard public key belongs to another registered device",
				Hint: "generate a new key pair for every device"}
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registry: look up WireGuard key: %w", err)
		}
		kind := "device_reregistered"
		if cur.ID == "" {
			kind = "device_registered"
			id, err := newID()
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO devices (`+deviceCols+`, token_hash)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)`,
				id, reg.Fingerprint, reg.UserEmail, reg.UserName, reg.Name, reg.OS, groupsJSON(reg.Groups),
				toNanos(reg.AuthTime), reg.WGPublicKey, now.UnixNano(), now.UnixNano(), reg.IdPID, groupsJSON(reg.Claims),
				reg.ServiceTokenID, hash); err != nil {
				return fmt.Errorf("registry: insert device: %w", err)
			}
			if _, err := r.allocate(tx, id); err != nil {
				return err
			}
			cur.ID = id
		} else {
			auth := reg.AuthTime
			if auth.Before(cur.AuthTime) {
				auth = cur.AuthTime // never roll auth_time back
			}
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET user_name = ?, name = ?, os = ?, groups = ?,
				auth_time = ?, wg_public_key = ?, token_hash = ?, updated_at = ?, idp_id = ?, claims = ?, service_token_id = ? WHERE id = ?`,
				reg.UserName, reg.Name, reg.OS, groupsJSON(reg.Groups), toNanos(auth), reg.WGPublicKey,
				hash, now.UnixNano(), reg.IdPID, groupsJSON(reg.Claims), reg.ServiceTokenID, cur.ID); err != nil {
				return fmt.Errorf("registry: update device: %w", err)
			}
		}
		dev, err = r.get(ctx, tx, `id = ?`, cur.ID)
		if err != nil {
			return fmt.Errorf("registry: read back device: %w", err)
		}
		return r.auditTx(ctx, tx, now, kind, reg.UserEmail, dev.ID, map[string]any{
			"fingerprint": dev.Fingerprint, "name": dev.Name, "user": dev.UserEmail,
			"wg_public_key": dev.WGPublicKey, "addresses": dev.Addresses, "auth_time": dev.AuthTime,
		})
	})
	if err != nil {
		return Device{}, secret.Value{}, err
	}
	r.log.Info("device registered", zap.String("device_id", dev.ID), zap.String("user", dev.UserEmail),
		zap.String("fingerprint", dev.Fingerprint))
	return dev, token, nil
}

// Authenticate returns the device a bearer token belongs to. Unknown tokens
// fail with invalid_token; tokens of revoked or left devices with
// device_revoked or device_left.
func (r *Registry) Authenticate(ctx context.Context, token secret.Value) (Device, error) {
	if r.isClosed() {
		return Device{}, errClosed
	}
	hash := HashToken(token)
	var stored []byte
	var id string
	err := r.db.QueryRowContext(ctx, `SELECT id, token_hash FROM devices WHERE token_hash = ?`, hash).Scan(&id, &stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(stored, hash) != 1) {
		return Device{}, &apierror.Error{Code: CodeInvalidToken, Message: "the device token is not valid",
			Hint: "register the device again (agentctl register)"}
	}
	if err != nil {
		return Device{}, fmt.Errorf("registry: look up token: %w", err)
	}
	d, err := r.Get(ctx, id)
	if err != nil {
		return Device{}, err
	}
	switch d.State {
	case StateRevoked:
		return d, &apierror.Error{Code: CodeRevoked, Message: "device " + d.ID + " was revoked by an administrator",
			Hint: "delete the registration and register again"}
	case StateLeft:
		return d, &apierror.Error{Code: CodeLeft, Message: "device " + d.ID + " has left the organization",
			Hint: "register again to rejoin"}
	}
	return d, nil
}

// Get returns the device with the given ID, in any state.
func (r *Registry) Get(ctx context.Context, id string) (Device, error) {
	if r.isClosed() {
		return Device{}, errClosed
	}
	d, err := r.get(ctx, r.db, `id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, notFound(id)
	}
	if err != nil {
		return Device{}, fmt.Errorf("registry: read device %s: %w", id, err)
	}
	return d, nil
}

// List returns every device, in any state, oldest registration first.
func (r *Registry) List(ctx context.Context) ([]Device, error) {
	if r.isClosed() {
		return nil, errClosed
	}
	return r.list(ctx, r.db, `1 = 1`)
}

func (r *Registry) list(ctx context.Context, q queryer, where string, args ...any) ([]Device, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE `+where+` ORDER BY registered_at, rowid`, args...)
	if err != nil {
		return nil, fmt.Errorf("registry: list devices: %w", err)
	}
	var out []Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Addresses, err = r.addresses(ctx, q, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Leave ends an active device's registration at its user's request. The
// caller passes the organization's allowed_to_leave setting; without it the
// error has code not_allowed_to_leave (S13).
func (r *Registry) Leave(ctx context.Context, id string, allowedToLeave bool) (Device, error) {
	if !allowedToLeave {
		return Device{}, &apierror.Error{Code: CodeNotAllowedLeave,
			Message: "the organization does not allow users to leave on their own",
			Hint:    "ask an administrator to revoke the device"}
	}
	return r.end(ctx, id, StateLeft, "device_left", "user")
}

// Revoke ends a device's registration by an administrator (S14) and appends
// a device_revoked event to its stream in the same transaction. Revoking a
// device that is no longer active changes nothing and appends nothing.
func (r *Registry) Revoke(ctx context.Context, id string) (Device, error) {
	return r.end(ctx, id, StateRevoked, "device_revoked", "admin")
}

func (r *Registry) end(ctx context.Context, id string, to State, kind, actor string) (Device, error) {
	var dev Device
	changed := false
	err := r.write(ctx, func(tx *sql.Tx) error {
		d, err := r.get(ctx, tx, `id = ?`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(id)
		} else if err != nil {
			return fmt.Errorf("registry: read device %s: %w", id, err)
		}
		dev = d
		if d.State != StateActive {
			if to == StateLeft {
				return &apierror.Error{Code: CodeNotFound, Message: "device " + id + " is not registered (it is " + string(d.State) + ")",
					Hint: "register again first"}
			}
			return nil
		}
		now := r.now()
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET state = ?, updated_at = ? WHERE id = ?`, string(to), now.UnixNano(), id); err != nil {
			return fmt.Errorf("registry: update device %s: %w", id, err)
		}
		dev.State, dev.UpdatedAt, changed = to, now, true
		if to == StateRevoked {
			if _, err := r.appendTx(ctx, tx, now, id, EventDeviceRevoked, map[string]any{}); err != nil {
				return err
			}
		}
		if actor == "user" {
			actor = d.UserEmail
		}
		return r.auditTx(ctx, tx, now, kind, actor, id, map[string]any{"user": d.UserEmail, "fingerprint": d.Fingerprint})
	})
	if err != nil {
		return Device{}, err
	}
	if changed {
		r.log.Info("device registration ended", zap.String("device_id", id), zap.String("state", string(to)))
		r.notify(id)
	}
	return dev, nil
}

// Refresh records a new successful IdP authentication of userEmail (S2,
// S12): every active device of that user gets the new auth_time and groups
// and a session_refreshed event. auth_time never moves back: a device whose
// recorded auth_time is later than authTime is left as it is. It returns
// the devices it changed.
func (r *Registry) Refresh(ctx context.Context, userEmail string, authTime time.Time, groups []string) ([]Device, error) {
	return r.RefreshFrom(ctx, Auth{Email: userEmail, AuthTime: authTime, Groups: groups})
}

// Auth is one successful IdP authentication, as RefreshFrom records it.
type Auth struct {
	Email string
	// IdPID is the identity provider it went through; "" for any.
	IdPID    string
	AuthTime time.Time
	Groups   []string
	// Claims are the IdP's configured claims; they replace the device's.
	Claims []string
}

// RefreshFrom is Refresh for an authentication with the identity provider
// a.IdPID: only the user's devices that enrolled with it (or whose IdP is
// not recorded) are refreshed, since a device re-authenticates with the IdP
// it enrolled with; their claims become a.Claims. An empty IdPID refreshes
// every device of the user and keeps their claims.
func (r *Registry) RefreshFrom(ctx context.Context, a Auth) ([]Device, error) {
	userEmail, idpID, authTime, groups := a.Email, a.IdPID, a.AuthTime, a.Groups
	if authTime.IsZero() {
		return nil, invalid("refresh without auth_time", "pass the auth_time of the IdP's ID token")
	}
	var changed []Device
	err := r.write(ctx, func(tx *sql.Tx) error {
		changed = nil
		where, args := `user_email = ? AND state = 'active' AND auth_time <= ?`, []any{userEmail, authTime.UnixNano()}
		if idpID != "" {
			where, args = where+` AND idp_id IN (?, '')`, append(args, idpID)
		}
		devs, err := r.list(ctx, tx, where, args...)
		if err != nil {
			return err
		}
		now := r.now()
		g := slices.Clone(groups)
		if g == nil {
			g = []string{}
		}
		for _, d := range devs {
			claims := d.Claims
			if idpID != "" {
				claims = a.Claims
			}
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET auth_time = ?, groups = ?, claims = ?, updated_at = ? WHERE id = ?`,
				authTime.UnixNano(), groupsJSON(g), groupsJSON(claims), now.UnixNano(), d.ID); err != nil {
				return fmt.Errorf("registry: refresh device %s: %w", d.ID, err)
			}
			d.Claims = slices.Clone(claims)
			d.AuthTime, d.Groups, d.UpdatedAt = authTime.UTC(), g, now
			if _, err := r.appendTx(ctx, tx, now, d.ID, EventSessionRefreshed,
				control.SessionRefreshed{AuthTime: d.AuthTime, Groups: g}); err != nil {
				return err
			}
			if err := r.auditTx(ctx, tx, now, "session_refreshed", userEmail, d.ID,
				map[string]any{"auth_time": d.AuthTime, "groups": g}); err != nil {
				return err
			}
			changed = append(changed, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, d := range changed {
		r.notify(d.ID)
	}
	return changed, nil
}
