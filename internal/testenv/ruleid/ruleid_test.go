package ruleid

import "testing"

func TestFind(t *testing.T) {
	for in, want := range map[string]string{
		"stops its traffic (S14)":            "S14",
		"see SEC4":                           "SEC4",
		"REL2 says":                          "REL2",
		"as DESIGN §5 describes":             "DESIGN §",
		"code_challenge_method=S256":         "",
		"signed in 2h ago by the edge clock": "",
	} {
		if got := Find(in); got != want {
			t.Errorf("Find(%q) = %q, want %q", in, got, want)
		}
	}
}
