package simulator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/ztagent/ztagent/internal/clock"
	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
)

// serviceTokensFile holds the client IDs and secrets of the configuration's
// service tokens (SEC8: 0600, in the 0700 state directory), for the
// administrator to put into devices' MDM files, as Cloudflare shows a
// token's secret once when it is created.
const serviceTokensFile = "service-tokens.json"

// storedToken is one service token's credentials, as the file keeps them.
type storedToken struct {
	ID           string    `json:"id"`
	Address      string    `json:"terraform_address"`
	Name         string    `json:"name"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	ExpiresAt    time.Time `json:"expires_at"`
	// FromSimFile marks credentials the simulator file gives; edged
	// rewrites them when the file changes.
	FromSimFile bool `json:"from_sim_file,omitempty"`
}

type tokensFileV1 struct {
	Note   string        `json:"note"`
	Tokens []storedToken `json:"tokens"`
}

// activeToken is a service token the edge accepts.
type activeToken struct {
	storedToken
	secretHash [sha256.Size]byte
}

// serviceTokens keeps the credentials of the configuration's service tokens
// and checks those devices present.
type serviceTokens struct {
	path  string
	clock clock.Clock
	write func(path string, data []byte, perm os.FileMode) error

	mu         sync.Mutex
	byClientID map[string]*activeToken
}

func newServiceTokens(stateDir string, clk clock.Clock, write func(string, []byte, os.FileMode) error) *serviceTokens {
	return &serviceTokens{path: filepath.Join(stateDir, serviceTokensFile), clock: clk, write: write, byClientID: map[string]*activeToken{}}
}

// sync gives every service token of cfg credentials: the simulator file's,
// else those already in the state directory, else newly minted ones, and
// stores them. Tokens no longer declared are forgotten, as deleting the
// resource deletes the token. It returns the apply step, so that a reload
// that fails later changes nothing.
func (st *serviceTokens) sync(cfg *config) (apply func(), err error) {
	old, err := st.read()
	if err != nil {
		return nil, err
	}
	now := st.clock.Now()
	var next []storedToken
	changed := len(old) != len(cfg.tf.ServiceTokens)
	for _, t := range cfg.tf.ServiceTokens {
		prev, had := old[t.ID]
		cur := storedToken{ID: t.ID, Address: t.Address(), Name: t.Name}
		switch given := cfg.sim.ServiceTokenCredentials(t.Label); {
		case given != nil:
			cur.ClientID, cur.ClientSecret, cur.FromSimFile = given.ClientID, given.ClientSecret.Reveal(), true
		case had && !prev.FromSimFile:
			cur.ClientID, cur.ClientSecret = prev.ClientID, prev.ClientSecret
		default:
			cur.ClientID, cur.ClientSecret = mintClientID(), mintClientSecret()
		}
		// A token keeps its expiry while its credentials stay the same:
		// a restart or reload does not renew it.
		if had && prev.ClientID == cur.ClientID && prev.ClientSecret == cur.ClientSecret {
			cur.ExpiresAt = prev.ExpiresAt
		} else {
			cur.ExpiresAt = now.Add(t.Duration).UTC()
		}
		changed = changed || !had || prev != cur
		next = append(next, cur)
	}
	if changed {
		if err := st.store(next); err != nil {
			return nil, err
		}
	}
	active := make(map[string]*activeToken, len(next))
	for _, t := range next {
		secret.New(t.ClientSecret) // scrubbed from every log line
		active[t.ClientID] = &activeToken{storedToken: t, secretHash: sha256.Sum256([]byte(t.ClientSecret))}
	}
	return func() {
		st.mu.Lock()
		st.byClientID = active
		st.mu.Unlock()
	}, nil
}

func mintClientID() string { return randomHex(16) + ".access" }

func mintClientSecret() string { return randomHex(32) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on a supported OS
	}
	return hex.EncodeToString(b)
}

// read returns the stored credentials by token ID; none when there is no
// file yet.
func (st *serviceTokens) read() (map[string]storedToken, error) {
	b, err := os.ReadFile(st.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]storedToken{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", st.path, err)
	}
	if fi, err := os.Stat(st.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by other users (mode %v): it holds service token secrets; run chmod 600 %s", st.path, fi.Mode().Perm(), st.path)
	}
	var f tokensFileV1
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s is not a service token file (%v): delete it to have new credentials minted, then give devices the new ones", st.path, err)
	}
	out := make(map[string]storedToken, len(f.Tokens))
	for _, t := range f.Tokens {
		out[t.ID] = t
	}
	return out, nil
}

func (st *serviceTokens) store(tokens []storedToken) error {
	sort.Slice(tokens, func(i, j int) bool { return tokens[i].Address < tokens[j].Address })
	b, err := json.MarshalIndent(tokensFileV1{
		Note:   "Access service token credentials minted by edged: put client_id and client_secret into a device's mdm.xml as auth_client_id and auth_client_secret. Keep this file secret.",
		Tokens: tokens,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := st.write(st.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", st.path, err)
	}
	return nil
}

// check returns the token with these credentials, or why it is refused.
// An unknown client ID and a wrong secret get the same answer, so that a
// guesser learns nothing; the secret is compared in constant time.
func (st *serviceTokens) check(clientID, clientSecret string) (storedToken, error) {
	st.mu.Lock()
	t := st.byClientID[clientID]
	st.mu.Unlock()
	h := sha256.Sum256([]byte(clientSecret))
	if t == nil || subtle.ConstantTimeCompare(h[:], t.secretHash[:]) != 1 {
		return storedToken{}, apierror.WithStatus(http.StatusUnauthorized, control.CodeInvalidServiceToken,
			"the service token's client ID or secret is wrong",
			"check auth_client_id and auth_client_secret in the MDM file against the token's credentials (edged keeps them in "+serviceTokensFile+" in its state directory)")
	}
	if now := st.clock.Now(); now.After(t.ExpiresAt) {
		return storedToken{}, apierror.WithStatus(http.StatusUnauthorized, control.CodeServiceTokenExpired,
			fmt.Sprintf("the service token %q expired at %s", t.Name, t.ExpiresAt.Format(time.RFC3339)),
			"ask your administrator to renew it (a longer duration, or a new token) and put the new credentials into the MDM file")
	}
	return t.storedToken, nil
}

// nonIdentityEmail is the user Cloudflare shows for a device enrolled with
// a service token (or any Service Auth policy).
func nonIdentityEmail(team string) string {
	return "non_identity@" + team + ".cloudflareaccess.com"
}

// serviceTokenEnroller is controlapi.Options.ServiceTokens: the credentials
// checked, then the device enrollment permissions for the token.
type serviceTokenEnroller struct{ s *Simulator }

var _ controlapi.ServiceTokens = serviceTokenEnroller{}

func (e serviceTokenEnroller) EnrollWith(_ context.Context, clientID, clientSecret string) (controlapi.Login, error) {
	t, err := e.s.tokens.check(clientID, clientSecret)
	if err != nil {
		return controlapi.Login{}, err
	}
	cfg := e.s.cfg.Load()
	if v := cfg.enrollment.PermitServiceToken(t.ID, t.Name); !v.Allowed {
		return controlapi.Login{}, apierror.WithStatus(http.StatusForbidden, control.CodeEnrollmentNotPermitted, v.Reason,
			"ask your administrator to add a Service Auth policy that includes the service token to the device enrollment permissions (the type \"warp\" Access application)")
	}
	return controlapi.Login{
		Email:        nonIdentityEmail(cfg.sim.Team),
		Name:         "Service token " + t.Name,
		ServiceToken: &control.ServiceTokenInfo{ID: t.ID, Name: t.Name},
	}, nil
}

// ServiceTokens returns the names of the service tokens the edge accepts
// and the file that holds their credentials.
func (s *Simulator) ServiceTokens() (names []string, file string) {
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	for _, t := range s.tokens.byClientID {
		names = append(names, fmt.Sprintf("%q", t.Name))
	}
	sort.Strings(names)
	return names, s.tokens.path
}

// ServiceTokenCredentials returns the client ID and secret of the service
// token named name, for tests and tools on the edge's machine.
func (s *Simulator) ServiceTokenCredentials(name string) (clientID string, clientSecret secret.Value, ok bool) {
	s.tokens.mu.Lock()
	defer s.tokens.mu.Unlock()
	for _, t := range s.tokens.byClientID {
		if t.Name == name {
			return t.ClientID, secret.New(t.ClientSecret), true
		}
	}
	return "", secret.Value{}, false
}
