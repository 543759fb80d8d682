// Package oidcprovider runs a third-party OpenID provider for tests: panva's
// oidc-provider (an OpenID Certified implementation, npm) with the users
// and clients a test gives it, from test/oidcprovider. make deps installs
// its node_modules with npm ci from the committed lockfile.
package oidcprovider

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/testenv/gobuild"
	"github.com/ztagent/ztagent/internal/testenv/realdeps"
	"github.com/ztagent/ztagent/internal/testenv/syncbuf"
)

// User is an account at the provider.
type User struct {
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
	// Claims are more claims of the user's ID token; each key must be in
	// Config.ExtraClaims.
	Claims map[string]any `json:"claims,omitempty"`
}

// Client is a relying party registered at the provider.
type Client struct {
	ID           string   `json:"client_id"`
	Secret       string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
}

// Config is what the provider starts with.
type Config struct {
	Clients []Client
	Users   []User
	// IssuerPath is the issuer's path, as Entra ID's /<tenant>/v2.0; the
	// issuer is the origin alone when empty.
	IssuerPath string
	// ExtraClaims are the claim names users may carry besides email, name
	// and groups (released with the profile scope).
	ExtraClaims []string
	// ClaimsInUserinfoOnly leaves email, name and groups out of the ID
	// token: the relying party must ask the userinfo endpoint.
	ClaimsInUserinfoOnly bool
}

// Provider is a running oidc-provider.
type Provider struct {
	// Origin is where it listens, http://127.0.0.1:<port>; Issuer is its
	// issuer, Origin + Config.IssuerPath.
	Origin, Issuer string

	t     testing.TB
	dir   string
	mu    sync.Mutex
	users []User
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// readyTimeout bounds the provider's start: node loads oidc-provider and
// generates an RSA key, which takes well under a second here, but a busy
// machine may be much slower.
const readyTimeout = 60 * time.Second

// Start runs the provider until the test ends. It skips the test (or fails
// it under make test) when node or the installed package is missing.
func Start(t testing.TB, cfg Config) *Provider {
	t.Helper()
	node := realdeps.Tool(t, "node", "install Node.js 20.19 or later (Debian: apt-get install nodejs)")
	src := sourceDir(t)
	if _, err := os.Stat(filepath.Join(src, "node_modules", "oidc-provider", "package.json")); err != nil {
		realdeps.Missing(t, "test/oidcprovider/node_modules", "run make deps (it runs npm ci in test/oidcprovider)")
	}
	p := &Provider{t: t, dir: t.TempDir(), users: cfg.Users, done: make(chan error, 1)}
	p.writeUsers()
	conf, err := json.Marshal(map[string]any{
		"host": "127.0.0.1", "port": 0, "users_file": filepath.Join(p.dir, "users.json"), "clients": cfg.Clients,
		"issuer_path": cfg.IssuerPath, "extra_claims": cfg.ExtraClaims, "claims_in_userinfo_only": cfg.ClaimsInUserinfoOnly,
	})
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(p.dir, "config.json")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(node, filepath.Join(src, "server.mjs"), confPath)
	p.cmd.Dir = src
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	p.cmd.Stderr = stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting the OpenID provider: %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- rest
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(p.Stop)
	select {
	case line := <-ready:
		p.Origin, p.Issuer, _ = strings.Cut(line, " ")
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the OpenID provider exited before it was ready (%v): %s", err, stderr.String())
	case <-time.After(readyTimeout):
		t.Fatalf("the OpenID provider was not ready within %v: %s", readyTimeout, stderr.String())
	}
	return p
}

// SetGroups changes a user's groups at the provider; the next sign-in's ID
// token carries them.
func (p *Provider) SetGroups(email string, groups []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.users {
		if strings.EqualFold(p.users[i].Email, email) {
			p.users[i].Groups = groups
		}
	}
	p.writeUsersLocked()
}

func (p *Provider) writeUsers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeUsersLocked()
}

func (p *Provider) writeUsersLocked() {
	b, err := json.Marshal(p.users)
	if err != nil {
		p.t.Fatal(err)
	}
	// Written to a temporary name and renamed, so that the provider never
	// reads half a file.
	tmp := filepath.Join(p.dir, "users.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "users.json")); err != nil {
		p.t.Fatal(err)
	}
}

// Stop ends the provider and waits for it: closing its stdin makes it
// exit; a provider that does not is killed after a while.
func (p *Provider) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.done <- errors.New("stopped") // a second Stop returns at once
}

// sourceDir returns test/oidcprovider of this module.
func sourceDir(t testing.TB) string {
	t.Helper()
	root, err := gobuild.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "test", "oidcprovider")
}
