package simulator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ztagent/ztagent/internal/atomicfile"

	"github.com/ztagent/ztagent/internal/randtoken"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
)

// State files under --state-dir (SEC8: 0600 files in a 0700 directory).
const (
	dbFile         = "edge.db"
	adminTokenFile = "admin.token"
	wgKeyFile      = "wireguard.key"
)

// prepareStateDir creates dir (0700) or checks that an existing one is not
// open to other users, since it holds the edge's keys and tokens.
func prepareStateDir(dir string) error {
	if dir == "" {
		return errors.New("the state directory is empty: pass --state-dir DIR")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the state directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check the state directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("the state directory %s is a symbolic link: pass the real directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("the state directory %s is not a directory", dir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("the state directory %s is open to other users (mode %v); it holds keys and tokens: run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// loadOrCreateSecret returns the secret stored in path, or creates it with
// make and stores it (0600, written atomically) when the file does not
// exist. A file that exists but is open to others is refused.
func loadOrCreateSecret(path string, make func() (string, error)) (secret.Value, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		fi, err := os.Stat(path)
		if err != nil {
			return secret.Value{}, false, err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return secret.Value{}, false, fmt.Errorf("%s is readable by other users (mode %v): run chmod 600 %s", path, fi.Mode().Perm(), path)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return secret.Value{}, false, fmt.Errorf("%s is empty: delete it to have a new one made", path)
		}
		return secret.New(v), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return secret.Value{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	v, err := make()
	if err != nil {
		return secret.Value{}, false, err
	}
	if err := atomicfile.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return secret.Value{}, false, fmt.Errorf("write %s: %w", path, err)
	}
	return secret.New(v), true, nil
}

// adminToken returns the admin token from file, or from
// <stateDir>/admin.token, created on first start.
func adminToken(stateDir, file string) (secret.Value, string, error) {
	if file == "" {
		file = filepath.Join(stateDir, adminTokenFile)
	}
	tok, _, err := loadOrCreateSecret(file, func() (string, error) { return randtoken.New(32), nil })
	return tok, file, err
}

// wireGuardKey returns the edge's WireGuard private key, kept in the state
// directory so that registered devices keep working after a restart (REL6).
func wireGuardKey(stateDir string) (wgkey.Private, error) {
	v, _, err := loadOrCreateSecret(filepath.Join(stateDir, wgKeyFile), func() (string, error) {
		k, err := wgkey.Generate()
		if err != nil {
			return "", err
		}
		return k.Secret().Reveal(), nil
	})
	if err != nil {
		return wgkey.Private{}, err
	}
	k, err := wgkey.ParsePrivate(v)
	if err != nil {
		return wgkey.Private{}, fmt.Errorf("%s does not hold a WireGuard private key (%v): delete it to have a new one made, then register devices again", filepath.Join(stateDir, wgKeyFile), err)
	}
	return k, nil
}

// clockFile keeps how far the simulated time was advanced, so that a
// restart does not move time back: auth_times stamped in simulated time
// would otherwise lie in the future and never be replaced (REL6).
const clockFile = "clock.offset"

func loadClockOffset(stateDir string) (time.Duration, error) {
	path := filepath.Join(stateDir, clockFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s does not hold a non-negative duration (%q): fix or delete it (deleting moves simulated time back to the real time)", path, strings.TrimSpace(string(b)))
	}
	return d, nil
}

// saveClockOffset stores d with write (atomic: the old offset or the new
// one survives a crash). Its error names the file, for the admin API's
// answer.
func saveClockOffset(write func(string, []byte, os.FileMode) error, stateDir string, d time.Duration) error {
	path := filepath.Join(stateDir, clockFile)
	if err := write(path, []byte(d.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
