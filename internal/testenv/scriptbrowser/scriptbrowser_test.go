package scriptbrowser

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/edge/idp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const callback = "http://127.0.0.1:9/callback" // never dialled: the browser stops there

// newIdP serves a built-in IdP at http://idp.localhost:PORT, where PORT is
// its httptest listener's, so that only the .localhost rule of Hosts is
// needed to reach it.
func newIdP(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	issuer := "http://idp.localhost:" + port
	p, err := idp.New(idp.Options{
		Issuer:     issuer,
		Users:      []idp.User{{Email: "alice@acme.example", Name: "Alice", Password: secret.New("pw-alice"), Groups: []string{"eng"}}},
		Clients:    []idp.Client{{ID: "agent", RedirectURIs: []string{callback}}},
		BcryptCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); _ = p.Close() })
	return issuer
}

func authorizeURL(issuer string) string {
	v := url.Values{
		"client_id": {"agent"}, "redirect_uri": {callback}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"s1"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	return issuer + idp.PathAuthorize + "?" + v.Encode()
}

func newBrowser(t *testing.T, opts Options) *Browser {
	t.Helper()
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestLoginThenSilentSSO(t *testing.T) {
	issuer := newIdP(t)
	b := newBrowser(t, Options{StopAt: []string{callback}})

	res, err := b.Visit(t.Context(), authorizeURL(issuer), VisitOptions{Login: &Credentials{"alice@acme.example", "pw-alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || !res.FormShown() || res.FormsSubmitted != 1 || res.Query().Get("code") == "" || res.Query().Get("state") != "s1" {
		t.Fatalf("first visit: %+v", res)
	}
	if strings.HasPrefix(res.Visited[len(res.Visited)-1], callback) {
		t.Fatal("the stop URL was requested")
	}
	if len(b.Cookies(issuer)) == 0 {
		t.Fatal("no IdP cookies kept")
	}

	// The IdP session cookie makes the second sign-in silent.
	res, err = b.Visit(t.Context(), authorizeURL(issuer), VisitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || res.FormShown() || res.Query().Get("code") == "" {
		t.Fatalf("second visit: %+v", res)
	}
}

func TestFormWithoutCredentialsAndWrongPassword(t *testing.T) {
	issuer := newIdP(t)
	b := newBrowser(t, Options{})

	res, err := b.Visit(t.Context(), authorizeURL(issuer), VisitOptions{StopAt: []string{callback}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped || res.FormsShown != 1 || res.FormsSubmitted != 0 || res.Status != http.StatusOK {
		t.Fatalf("without credentials: %+v", res)
	}

	res, err = b.Visit(t.Context(), authorizeURL(issuer), VisitOptions{Login: &Credentials{"alice@acme.example", "wrong"}, StopAt: []string{callback}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped || res.FormsShown != 2 || res.FormsSubmitted != 1 || res.ErrorText == "" {
		t.Fatalf("wrong password: %+v", res)
	}
}

func TestHostsMapping(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			http.Redirect(w, r, "http://elsewhere.test/done?x=1", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("host=" + r.Host))
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	b := newBrowser(t, Options{Hosts: Hosts{"app.test:80": addr}, StopAt: []string{"http://elsewhere.test/"}})

	res, err := b.Visit(t.Context(), "http://app.test/", VisitOptions{})
	if err != nil || res.Body != "host=app.test" {
		t.Fatalf("mapped host: %+v %v", res, err)
	}
	res, err = b.Visit(t.Context(), "http://app.test/go", VisitOptions{})
	if err != nil || !res.Stopped || res.Query().Get("x") != "1" {
		t.Fatalf("stop at redirect: %+v %v", res, err)
	}
	if got := (Hosts{}).resolve("Team.LOCALHOST:8781"); got != "127.0.0.1:8781" {
		t.Fatalf("resolve .localhost: %s", got)
	}
	if got := (Hosts{}).resolve("example.com:80"); got != "example.com:80" {
		t.Fatalf("resolve other: %s", got)
	}
}
