package wgkey

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/internal/secret"
)

// The RFC 7748 §6.1 test vector (Alice), as wg(8) would print it.
const (
	alicePriv = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
	alicePub  = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
)

func TestPrivateRoundTrip(t *testing.T) {
	k, err := ParsePrivate(secret.New(alicePriv))
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Public().String(); got != alicePub {
		t.Fatalf("Public = %s; want %s", got, alicePub)
	}
	if got := k.Secret().Reveal(); got != alicePriv {
		t.Fatalf("Secret = %q; want the base64 it was parsed from", got)
	}
	if got := k.UAPIHex(); got != "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a" {
		t.Fatalf("UAPIHex = %s", got)
	}
	back, err := ParsePrivate(k.Secret())
	if err != nil || !back.Equal(k) || back.Public() != k.Public() {
		t.Fatalf("ParsePrivate(Secret()) = %v, %v; want the same key", back, err)
	}

	g, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if g.IsZero() || g.Equal(k) || g.Public().IsZero() {
		t.Fatal("Generate returned the zero key or the test vector")
	}
	if back, err := ParsePrivate(g.Secret()); err != nil || !back.Equal(g) {
		t.Fatalf("a generated key does not round-trip: %v", err)
	}
	var zero Private
	if !zero.IsZero() || zero.Equal(g) || !zero.Equal(Private{}) || zero.String() != "" {
		t.Fatal("the zero Private is not the empty key")
	}
}

func TestPublicRoundTrip(t *testing.T) {
	k, err := ParsePublic(alicePub)
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != alicePub || k.UAPIHex() != "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" {
		t.Fatalf("String %s, UAPIHex %s", k, k.UAPIHex())
	}
	// The JSON form is the wg(8) base64 string, as the control API sends it.
	j, err := json.Marshal(struct {
		K Public `json:"k"`
	}{k})
	if err != nil || string(j) != `{"k":"`+alicePub+`"}` {
		t.Fatalf("json.Marshal = %s, %v", j, err)
	}
	var back struct {
		K Public `json:"k"`
	}
	if err := json.Unmarshal(j, &back); err != nil || back.K != k {
		t.Fatalf("json.Unmarshal = %v, %v", back.K, err)
	}
	if err := json.Unmarshal([]byte(`{"k":"AAAA"}`), &back); err == nil || !strings.Contains(err.Error(), "not a base64 WireGuard key") {
		t.Fatalf("json.Unmarshal of a short key: %v", err)
	}
	if (Public{}).IsZero() != true || k.IsZero() {
		t.Fatal("IsZero")
	}
}

func TestParseRejectsBadKeys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	for _, bad := range []string{"", "abc", "not base64 at all!", alicePub[:40], short, long} {
		if k, err := ParsePublic(bad); err == nil {
			t.Errorf("ParsePublic(%q) = %v; want an error", bad, k)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q is not a base64 WireGuard key", bad)) {
			t.Errorf("ParsePublic(%q): %v; want the error to quote the text", bad, err)
		}
		if bad == "" {
			continue
		}
		_, err := ParsePrivate(secret.New(bad))
		if err == nil {
			t.Errorf("ParsePrivate(%q) accepted", bad)
			continue
		}
		// A private key's text is a secret: the error must not repeat it.
		if !strings.Contains(err.Error(), "not 44 characters of base64") || strings.Contains(err.Error(), bad) {
			t.Errorf("ParsePrivate(%q): %v", bad, err)
		}
	}
	if _, err := ParsePrivate(secret.Value{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("ParsePrivate(zero) = %v", err)
	}
}

// TestPrivateNeverPrints is the canary: a private key must not show, in any
// form, in fmt's verbs, in JSON, or through a struct that holds it in an
// exported or an unexported field, at the top level or behind a pointer.
func TestPrivateNeverPrints(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	canaries := []string{k.Secret().Reveal(), k.UAPIHex(), strings.ToUpper(k.UAPIHex()), fmt.Sprint(k.pair().priv), fmt.Sprintf("%x", k.pair().priv[:8])}
	type exported struct {
		Key Private `json:"key"`
	}
	type unexported struct {
		key Private
	}
	type nested struct {
		E  exported
		U  unexported
		PE *exported
	}
	n := nested{E: exported{k}, U: unexported{k}, PE: &exported{k}}
	j1, err := json.Marshal(exported{k})
	if err != nil {
		t.Fatal(err)
	}
	j2, err := json.Marshal(map[string]any{"k": k, "n": n})
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k),
			fmt.Sprintf(verb, exported{k}), fmt.Sprintf(verb, unexported{k}),
			fmt.Sprintf(verb, n), fmt.Sprintf(verb, &n), fmt.Sprintf(verb, []Private{k}))
	}
	outputs = append(outputs, k.String(), k.GoString(), fmt.Sprint(k), fmt.Sprintln(k, n), string(j1), string(j2))
	for _, out := range outputs {
		for _, c := range canaries {
			if strings.Contains(out, c) {
				t.Fatalf("the private key shows in %q", out)
			}
		}
	}
	if got := fmt.Sprint(k); got != secret.Redacted {
		t.Fatalf("fmt.Sprint(k) = %q; want %q", got, secret.Redacted)
	}
	if string(j1) != `{"key":"`+secret.Redacted+`"}` {
		t.Fatalf("JSON = %s", j1)
	}
	// Both forms are registered with the scrubber, for a line that carries
	// them some other way.
	for _, c := range canaries[:2] {
		if got := secret.Scrub("x " + c + " y"); got != "x "+secret.Redacted+" y" {
			t.Fatalf("Scrub does not know the key: %q", got)
		}
	}
}

func TestZeroPrivatePanics(t *testing.T) {
	for name, f := range map[string]func(Private){
		"Public": func(k Private) { k.Public() }, "Secret": func(k Private) { k.Secret() }, "UAPIHex": func(k Private) { k.UAPIHex() },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s of the zero key did not panic", name)
				}
			}()
			f(Private{})
		}()
	}
}
