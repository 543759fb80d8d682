// Package registry is the edge simulator's durable state in SQLite
// (<state-dir>/edge.db): the registered devices with their tunnel
// addresses and token hashes, the per-device event log that the control
// API streams (GET /v1/registrations/{id}/events?after=SEQ) and the audit
// log that the admin API serves (GET /admin/v1/audit?after=SEQ).
//
// Every state change is one transaction, so a crash leaves the old or the
// new state (REL1) and registrations survive a restart (REL6). Device
// tokens are never stored: only their SHA-256 hash, compared in constant
// time (SEC7). The database file is 0600 in a 0700 directory (SEC8).
package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/ztagent/ztagent/internal/clock"
)

// FileName is the database's name inside the state directory.
const FileName = "edge.db"

// Defaults for Options.
var (
	DefaultPool     = netip.MustParsePrefix("100.96.0.0/12")
	DefaultResolver = netip.MustParseAddr("100.96.0.1")
)

// DefaultBusyTimeout is how long a write waits for another connection's
// lock before failing.
const DefaultBusyTimeout = 5 * time.Second

// Options configures Open.
type Options struct {
	// Path is the database file, normally <state-dir>/edge.db. Its
	// directory is created 0700 when missing and must not be accessible
	// to group or others.
	Path string
	// Clock stamps registrations, events and audit records; nil means
	// the real clock.
	Clock clock.Clock
	// Logger receives one line per state change; nil means no logging.
	Logger *zap.Logger
	// Pool is where tunnel addresses come from; the zero Prefix means
	// DefaultPool.
	Pool netip.Prefix
	// Reserved are addresses in Pool never handed to a device (the
	// edge's resolver); nil means {DefaultResolver}. The network address
	// (and, for IPv4, the broadcast address) are always skipped.
	Reserved []netip.Addr
	// BusyTimeout bounds waits for SQLite's lock; zero means
	// DefaultBusyTimeout.
	BusyTimeout time.Duration
}

// Registry is the open database. Its methods are safe for concurrent use.
type Registry struct {
	db       *sql.DB
	clock    clock.Clock
	log      *zap.Logger
	pool     netip.Prefix
	reserved map[netip.Addr]bool

	writeMu sync.Mutex // serialises write transactions within the process

	subMu  sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
}

// Open opens or creates the registry database and brings its schema up to
// date.
func Open(opts Options) (*Registry, error) {
	if opts.Path == "" {
		return nil, errors.New("registry: no database path; pass <state-dir>/" + FileName)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if !opts.Pool.IsValid() {
		opts.Pool = DefaultPool
	}
	opts.Pool = opts.Pool.Masked()
	if opts.Reserved == nil {
		opts.Reserved = []netip.Addr{DefaultResolver}
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.Pool.Addr().Is4In6() || opts.Pool.Bits() > opts.Pool.Addr().BitLen()-2 {
		return nil, fmt.Errorf("registry: address pool %v is too small; use a prefix such as %v", opts.Pool, DefaultPool)
	}
	if err := prepareFile(opts.Path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: opts.Path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("registry: open %s: %w", opts.Path, err)
	}
	db.SetMaxOpenConns(4)
	r := &Registry{
		db: db, clock: opts.Clock, log: opts.Logger, pool: opts.Pool,
		reserved: make(map[netip.Addr]bool), subs: make(map[string]map[*Subscription]struct{}),
	}
	for _, a := range opts.Reserved {
		r.reserved[a.Unmap()] = true
	}
	if err := r.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("registry: %s is not in WAL mode (got %q, %v); is the file on a filesystem that supports shared memory?", opts.Path, mode, err)
	}
	return r, nil
}

// prepareFile makes sure the directory is 0700 (creating it if needed) and
// the database file exists with mode 0600, so SQLite never creates it, or
// its -wal and -shm companions (which copy its mode), with looser modes.
func prepareFile(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("registry: create state directory: %w", err)
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("registry: state directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("registry: state directory %s is not a directory (a symbolic link is refused too); pass a real directory as --state-dir", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("registry: state directory %s has mode %04o, which lets other users reach the device registry; run `chmod 700 %s`", dir, fi.Mode().Perm(), dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("registry: create %s: %w", path, err)
	}
	fi, err = f.Stat()
	f.Close()
	if err != nil {
		return fmt.Errorf("registry: %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("registry: %s is not a regular file; remove it or choose another --state-dir", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("registry: %s has mode %04o, which lets other users read device data; run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	return nil
}

// Close wakes and ends every subscription and closes the database.
func (r *Registry) Close() error {
	r.subMu.Lock()
	if r.closed {
		r.subMu.Unlock()
		return nil
	}
	r.closed = true
	for _, set := range r.subs {
		for s := range set {
			s.closeLocked()
		}
	}
	r.subs = nil
	r.subMu.Unlock()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	return r.db.Close()
}

func (r *Registry) isClosed() bool {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	return r.closed
}

// migrations bring the schema from version i to i+1; append only, never
// edit a released one.
var migrations = []string{
	`CREATE TABLE devices (
		id            TEXT PRIMARY KEY,
		fingerprint   TEXT NOT NULL,
		user_email    TEXT NOT NULL,
		user_name     TEXT NOT NULL,
		name          TEXT NOT NULL,
		os            TEXT NOT NULL,
		groups        TEXT NOT NULL,
		auth_time     INTEGER NOT NULL,
		token_hash    BLOB NOT NULL UNIQUE,
		wg_public_key TEXT NOT NULL,
		state         TEXT NOT NULL CHECK (state IN ('active','revoked','left')),
		registered_at INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL
	);
	CREATE UNIQUE INDEX devices_active_fingerprint ON devices(fingerprint) WHERE state = 'active';
	CREATE UNIQUE INDEX devices_active_wg_key ON devices(wg_public_key) WHERE state = 'active';
	CREATE INDEX devices_user ON devices(user_email);
	CREATE TABLE addresses (
		address   TEXT PRIMARY KEY,
		pool      TEXT NOT NULL,
		idx       INTEGER NOT NULL,
		device_id TEXT NOT NULL REFERENCES devices(id),
		UNIQUE (pool, idx)
	);
	CREATE INDEX addresses_device ON addresses(device_id);
	CREATE TABLE events (
		seq       INTEGER PRIMARY KEY AUTOINCREMENT,
		device_id TEXT NOT NULL REFERENCES devices(id),
		type      TEXT NOT NULL,
		payload   TEXT NOT NULL,
		time      INTEGER NOT NULL
	);
	CREATE INDEX events_device_seq ON events(device_id, seq);
	CREATE TABLE audit (
		seq       INTEGER PRIMARY KEY AUTOINCREMENT,
		time      INTEGER NOT NULL,
		kind      TEXT NOT NULL,
		actor     TEXT NOT NULL,
		device_id TEXT NOT NULL,
		detail    TEXT NOT NULL
	);`,
	// 2: the identity provider each device enrolled with ("" for devices
	// enrolled before it was recorded).
	`ALTER TABLE devices ADD COLUMN idp_id TEXT NOT NULL DEFAULT '';`,
	// 3: the IdP's configured claims of the user's last sign-in
	// ("name=value" strings, identity.oidc_claims).
	`ALTER TABLE devices ADD COLUMN claims TEXT NOT NULL DEFAULT '[]';`,
	// 4: the service token a device enrolled with ("" for devices a person
	// enrolled).
	`ALTER TABLE devices ADD COLUMN service_token_id TEXT NOT NULL DEFAULT '';`,
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

func (r *Registry) migrate(ctx context.Context) error {
	return r.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("registry: create schema_version: %w", err)
		}
		var v int
		err := tx.QueryRow(`SELECT version FROM schema_version`).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.Exec(`INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return fmt.Errorf("registry: read schema version: %w", err)
		}
		if v > len(migrations) {
			return fmt.Errorf("registry: database schema version %d is newer than this edged understands (%d); run a newer edged or use a fresh --state-dir", v, len(migrations))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.Exec(migrations[v]); err != nil {
				return fmt.Errorf("registry: migrate schema to version %d: %w", v+1, err)
			}
		}
		_, err = tx.Exec(`UPDATE schema_version SET version = ?`, v)
		return err
	})
}

// write runs fn in one immediate transaction and commits it when fn
// returns nil.
func (r *Registry) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if r.isClosed() {
		return errClosed
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("registry: begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("registry: commit: %w", err)
	}
	return nil
}

func (r *Registry) now() time.Time { return r.clock.Now().UTC() }
