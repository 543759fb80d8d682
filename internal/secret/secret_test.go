package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestValueNeverPrints(t *testing.T) {
	const canary = "canary-token-5f3a9c"
	v := New(canary)
	type holder struct {
		Token Value `json:"token"`
	}
	j, err := json.Marshal(holder{v})
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q", v, v, v, v, v),
		fmt.Sprintf("%v %+v %#v", holder{v}, holder{v}, &holder{v}),
		string(j), v.String(), v.GoString(),
	}
	for _, out := range outputs {
		if strings.Contains(out, canary) {
			t.Errorf("secret leaked in %q", out)
		}
	}
	if v.Reveal() != canary {
		t.Fatalf("Reveal = %q", v.Reveal())
	}
	if !v.Equal(New(canary)) || v.IsZero() || !(Value{}).IsZero() {
		t.Fatal("Equal/IsZero wrong")
	}
	if (Value{}).String() != "" {
		t.Fatal("zero Value should print empty")
	}
}

func TestScrubRemovesRegisteredValues(t *testing.T) {
	New("private-key-AAAABBBBCCCC")
	New("abc") // too short to scrub safely
	got := Scrub("dial failed with key private-key-AAAABBBBCCCC and abc")
	if got != "dial failed with key [REDACTED] and abc" {
		t.Fatalf("Scrub = %q", got)
	}
	if !Contains("xx private-key-AAAABBBBCCCC") || Contains("nothing here") {
		t.Fatal("Contains wrong")
	}
}

func TestRegistryIsBounded(t *testing.T) {
	for i := 0; i < maxRemembered+10; i++ {
		New(fmt.Sprintf("bounded-secret-%06d", i))
	}
	registry.RLock()
	n := len(registry.values)
	registry.RUnlock()
	if n > maxRemembered {
		t.Fatalf("registry holds %d values, cap %d", n, maxRemembered)
	}
	if !Contains(fmt.Sprintf("bounded-secret-%06d", maxRemembered+9)) {
		t.Fatal("newest secret forgotten")
	}
}

func TestScrubReplacesLongestFirst(t *testing.T) {
	New("nested-outer-SECRET-with-SUFFIX")
	New("nested-outer-SECRET")
	for i := 0; i < 20; i++ {
		if got := Scrub("x nested-outer-SECRET-with-SUFFIX y"); got != "x [REDACTED] y" {
			t.Fatalf("Scrub = %q", got)
		}
	}
	if got := string(ScrubBytes([]byte("a nested-outer-SECRET b"))); got != "a [REDACTED] b" {
		t.Fatalf("ScrubBytes = %q", got)
	}
	clean := []byte("nothing secret here")
	if got := ScrubBytes(clean); &got[0] != &clean[0] {
		t.Fatal("ScrubBytes copied clean input")
	}
}

func TestUnmarshalRegistersAndAlsoScrub(t *testing.T) {
	var h struct {
		Token Value `json:"device_token"`
	}
	if err := json.Unmarshal([]byte(`{"device_token":"tok-from-edge-77aa"}`), &h); err != nil {
		t.Fatal(err)
	}
	if h.Token.Reveal() != "tok-from-edge-77aa" || !Contains("x tok-from-edge-77aa") {
		t.Fatal("decoded token not kept or not registered")
	}
	k := New("base64-key-AAAA=")
	k.AlsoScrub("6261736536342d6b6579")
	if Scrub("private_key=6261736536342d6b6579") != "private_key=[REDACTED]" {
		t.Fatal("derived form not scrubbed")
	}
}
