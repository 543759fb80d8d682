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
