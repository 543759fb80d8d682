package registry

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ztagent/ztagent/internal/clock"
)

func TestReopenKeepsEverythingREL6(t *testing.T) {
	f := newFixture(t)
	d, tok, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	gone, _, _ := f.r.Register(ctx, f.reg("bob@acme.test", "fp-2", 2))
	f.r.Revoke(ctx, gone.ID)
	ev, _ := f.r.Append(ctx, d.ID, EventPolicyChanged, nil)
	auditBefore, _ := f.r.AuditAfter(ctx, 0, 0)

	f.reopen()
	got, err := f.r.Authenticate(ctx, tok)
	if err != nil || got.ID != d.ID || got.Addresses[0] != d.Addresses[0] || !got.AuthTime.Equal(d.AuthTime) {
		t.Fatalf("after reopen Authenticate = %+v, %v", got, err)
	}
	if g, _ := f.r.Get(ctx, gone.ID); g.State != StateRevoked {
		t.Fatalf("revoked device after reopen: %+v", g)
	}
	evs, _ := f.r.After(ctx, d.ID, 0, 0)
	if len(evs) != 1 || evs[0].Seq != ev.Seq {
		t.Fatalf("events after reopen = %+v", evs)
	}
	next, _ := f.r.Append(ctx, d.ID, EventPolicyChanged, nil)
	if next.Seq <= ev.Seq {
		t.Fatalf("sequence went back after reopen: %d then %d", ev.Seq, next.Seq)
	}
	auditAfter, _ := f.r.AuditAfter(ctx, 0, 0)
	if len(auditAfter) != len(auditBefore) {
		t.Fatalf("audit log had %d records, now %d", len(auditBefore), len(auditAfter))
	}
	n, _, err := f.r.Register(ctx, f.reg("carol@acme.test", "fp-3", 3))
	if err != nil || n.Addresses[0].String() != "100.96.0.4/32" {
		t.Fatalf("allocation after reopen: %v, %v", n.Addresses, err)
	}
	var v int
	if err := f.r.db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	f := newFixture(t)
	if _, err := f.r.db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	f.r.Close()
	_, err := Open(Options{Path: f.path})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestFileAndDirectoryModesSEC8(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(f.path)
	for path, want := range map[string]os.FileMode{dir: 0o700, f.path: 0o600, f.path + "-wal": 0o600, f.path + "-shm": 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}

	loose := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(loose, 0o755)
	_, err := Open(Options{Path: filepath.Join(loose, FileName)})
	if err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("Open in a 0755 directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(loose, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused Open created the database")
	}

	f.r.Close()
	os.Chmod(f.path, 0o644)
	if _, err := Open(Options{Path: f.path}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Open of a 0644 database: %v", err)
	}

	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(dir, link)
	if _, err := Open(Options{Path: filepath.Join(link, FileName)}); err == nil {
		t.Fatal("Open through a symlinked directory succeeded")
	}
}

func TestTokenNeverStoredOrLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "state", FileName), clock: clock.NewFake(epoch), log: zap.New(core)}
	f.open()
	defer f.r.Close()
	d, tok, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	canary := tok.Reveal()
	if bytes.Equal(HashToken(tok), []byte(canary)) || strings.Contains(string(HashToken(tok)), canary) {
		t.Fatal("the token hash equals the token")
	}
	f.r.Revoke(ctx, d.ID)
	f.r.Refresh(ctx, "alice@acme.test", f.clock.Now(), nil)
	f.r.Close() // checkpoints the WAL into the main file

	files, _ := filepath.Glob(filepath.Join(filepath.Dir(f.path), "*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(canary)) {
			t.Fatalf("%s contains the device token", p)
		}
		if !bytes.Contains(b, HashToken(tok)) && p == f.path {
			t.Fatalf("%s does not hold the token hash; is the test reading the right file?", p)
		}
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(toString(v), "\n", " "), "\t", " "))
		}
		if strings.Contains(line, canary) {
			t.Fatalf("log line carries the token: %s", line)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("no log lines observed")
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// A state directory written before devices recorded their IdP, claims and
// service token (schema version 1) opens: the migrations add the columns,
// and its devices read back with none of them.
func TestMigrateFromVersion1(t *testing.T) {
	f := newFixture(t)
	d, _, err := f.r.Register(ctx, f.reg("alice@acme.test", "fp-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE devices DROP COLUMN service_token_id`,
		`ALTER TABLE devices DROP COLUMN claims`,
		`ALTER TABLE devices DROP COLUMN idp_id`,
		`UPDATE schema_version SET version = 1`,
	} {
		if _, err := f.r.db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	f.reopen()
	got, err := f.r.Get(ctx, d.ID)
	if err != nil || got.UserEmail != "alice@acme.test" || got.IdPID != "" || got.Claims != nil || got.ServiceTokenID != "" {
		t.Fatalf("device after the migration: %+v, %v", got, err)
	}
	var v int
	if err := f.r.db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}
}
