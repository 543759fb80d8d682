package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	path  string
	clock *clock.Fake
	log   *zap.Logger
	r     *Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "state", FileName), clock: clock.NewFake(epoch), log: zap.NewNop()}
	f.open()
	t.Cleanup(func() { f.r.Close() })
	return f
}

func (f *fixture) open(mod ...func(*Options)) {
	f.t.Helper()
	opts := Options{Path: f.path, Clock: f.clock, Logger: f.log}
	for _, m := range mod {
		m(&opts)
	}
	r, err := Open(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.r = r
}

func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.r.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func wgKey(i int) string {
	b := make([]byte, 32)
	copy(b, fmt.Sprintf("key-%d", i))
	return base64.StdEncoding.EncodeToString(b)
}

func (f *fixture) reg(email, fp string, key int) Registration {
	return Registration{Fingerprint: fp, UserEmail: email, UserName: email, Name: "laptop-" + fp, OS: "linux",
		Groups: []string{"eng"}, AuthTime: f.clock.Now(), WGPublicKey: wgKey(key)}
}

var ctx = context.Background()
