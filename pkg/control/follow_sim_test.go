package control_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/testenv/scriptbrowser"
	"github.com/ztagent/ztagent/internal/wgkey"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/admin"
	"github.com/ztagent/ztagent/pkg/edge/simulator"
)

const exampleDir = "../../examples/acme"

// freeListeners picks free loopback ports for every listener, so that a
// test can restart the edge on the same addresses.
func freeListeners(t *testing.T) simulator.Listeners {
	t.Helper()
	var l simulator.Listeners
	for _, dst := range []*netip.AddrPort{&l.API, &l.TeamDomain, &l.IdP} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*dst = ln.Addr().(*net.TCPAddr).AddrPort()
		ln.Close()
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.WireGuard = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	pc.Close()
	return l
}

func simOptions(t *testing.T) simulator.Options {
	return simulator.Options{
		TerraformDir: exampleDir,
		SimFile:      filepath.Join(exampleDir, "simulator.hcl"),
		StateDir:     filepath.Join(t.TempDir(), "state"),
		Listen:       freeListeners(t),
		BcryptCost:   bcrypt.MinCost,
		Logger:       zaptest.NewLogger(t),
	}
}

func startSim(t *testing.T, opts simulator.Options) *simulator.Simulator {
	t.Helper()
	s, err := simulator.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start the edge: %v", err)
	}
	return s
}

func randomString(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// enroll registers a device for alice the way an agent does (PKCE, a
// loopback callback the scripted browser stops at, then the control API).
func enroll(t *testing.T, s *simulator.Simulator) control.Registration {
	t.Helper()
	b, err := scriptbrowser.New(scriptbrowser.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const callback = "http://127.0.0.1:45999/callback"
	verifier, state := randomString(t), randomString(t)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"redirect_uri": {callback}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	res, err := b.Visit(t.Context(), s.TeamDomainURL()+"/warp?"+q.Encode(), scriptbrowser.VisitOptions{
		Login:  &scriptbrowser.Credentials{Email: "alice@example.com", Password: "alice-demo-password"},
		StopAt: []string{callback},
	})
	if err != nil || !res.Stopped {
		t.Fatalf("enrollment did not reach the callback: %+v %v", res, err)
	}
	key, err := wgkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public()
	reg, err := (&control.Client{BaseURL: s.APIURL()}).Register(t.Context(), control.RegisterRequest{
		Code: res.Query().Get("code"), CodeVerifier: verifier, WGPublicKey: pub.String(),
		DeviceFingerprint: "fp-follow", Name: "follow-test", OS: "linux",
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return reg
}

// REL3 against the real control API: the follower sees every event once,
// across an edge restart on the same ports and state directory, including
// events appended while it was disconnected; it reports the outage and
// the reconnection.
func TestFollowAcrossEdgeRestart(t *testing.T) {
	opts := simOptions(t)
	s := startSim(t, opts)
	reg := enroll(t, s)
	api := &control.Client{BaseURL: s.APIURL(), Token: secret.New(reg.DeviceToken)}
	fr := startFollow(t, control.FollowOptions{
		Client: api, DeviceID: reg.DeviceID,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	})
	if st := fr.nextState(t); !st.Connected {
		t.Fatalf("first state %+v", st)
	}
	var seqs []int64
	appendEv := func(s *simulator.Simulator, n int) {
		t.Helper()
		ev, err := s.Registry().Append(t.Context(), reg.DeviceID, control.EventPolicyChanged, map[string]int{"n": n})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ev.Seq)
	}
	appendEv(s, 1)
	appendEv(s, 2)
	got := []int64{fr.nextEvent(t).Seq, fr.nextEvent(t).Seq}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := fr.nextState(t); st.Connected || st.Err == nil {
		t.Fatalf("after the edge stopped: %+v", st)
	}
	s = startSim(t, opts)
	defer s.Close()
	appendEv(s, 3) // may land before or after the follower is back
	appendEv(s, 4)
	for st := fr.nextState(t); !st.Connected; st = fr.nextState(t) {
	}
	got = append(got, fr.nextEvent(t).Seq, fr.nextEvent(t).Seq)
	appendEv(s, 5)
	got = append(got, fr.nextEvent(t).Seq)
	fr.noEvent(t)
	if len(got) != len(seqs) {
		t.Fatalf("got events %v, appended %v", got, seqs)
	}
	for i := range got {
		if got[i] != seqs[i] {
			t.Fatalf("got events %v, appended %v", got, seqs)
		}
	}

	// Revocation ends the stream with device_revoked, and Follow stops.
	tok, _ := s.AdminToken()
	if _, err := (&admin.Client{BaseURL: s.APIURL(), Token: tok}).Revoke(t.Context(), reg.DeviceID); err != nil {
		t.Fatal(err)
	}
	if ev := fr.nextEvent(t); ev.Type != control.EventDeviceRevoked {
		t.Fatalf("after revoke: %+v", ev)
	}
	select {
	case err := <-fr.done:
		if !control.IsRevocation(err) {
			t.Fatalf("Follow returned %v, want a revocation", err)
		}
		fr.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not stop after device_revoked")
	}
	// Following again is refused at once with 401 device_revoked.
	_, err := control.Follow(t.Context(), control.FollowOptions{Client: api, DeviceID: reg.DeviceID, After: seqs[len(seqs)-1],
		OnEvent: func(control.Event) error { return nil }})
	if !control.IsRevocation(err) || !apierror.HasCode(err, control.CodeDeviceRevoked) {
		t.Fatalf("following a revoked device: %v", err)
	}
}
