package ipc

import (
	"regexp"
	"strings"
	"testing"
)

// The pipe's descriptor lets authenticated users connect (read and
// write) and nobody else but SYSTEM and Administrators in, with nothing
// inherited; Everyone and anonymous logons get no entry.
func TestPipeSDDL(t *testing.T) {
	if !strings.HasPrefix(PipeSDDL, "O:SYG:SYD:P") {
		t.Fatalf("%s: want owner SYSTEM and a protected DACL", PipeSDDL)
	}
	aces := regexp.MustCompile(`\(([^)]*)\)`).FindAllStringSubmatch(PipeSDDL, -1)
	grants := map[string]string{}
	for _, a := range aces {
		f := strings.Split(a[1], ";")
		if len(f) != 6 || f[0] != "A" {
			t.Fatalf("ACE %q: want only allow entries of six fields", a[1])
		}
		grants[f[5]] = f[2]
	}
	want := map[string]string{"SY": "GA", "BA": "GA", "AU": "GRGW"}
	if len(grants) != len(want) {
		t.Fatalf("grants %v, want %v", grants, want)
	}
	for who, rights := range want {
		if grants[who] != rights {
			t.Errorf("%s has %q, want %q", who, grants[who], rights)
		}
	}
}
