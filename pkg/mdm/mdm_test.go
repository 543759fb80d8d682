package mdm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const valid = `<?xml version="1.0" encoding="UTF-8"?>
<!-- deployed by the fleet's configuration management -->
<dict>
  <key>organization</key>
  <string>acme</string>
  <key>auth_client_id</key>
  <string>88bf3b6d86161464f6509f7219099e57.access</string>
  <key>auth_client_secret</key>
  <string>bdd31cbc4dec990953e39163fbbb194c93313ca9f0a6e420346af9d326b1d2a5</string>
  <key>service_mode</key>
  <string>proxy</string>
  <key>proxy_port</key>
  <integer>40123</integer>
  <key>auto_connect</key>
  <integer>15</integer>
  <key>switch_locked</key>
  <true/>
  <key>onboarding</key>
  <false/>
  <key>display_name</key>
  <string>Acme servers</string>
</dict>
`

// Cloudflare's example file, every key read with its meaning; the secret
// never prints.
func TestParse(t *testing.T) {
	s, err := Parse([]byte(valid), "mdm.xml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Organization != "acme" || s.AuthClientID != "88bf3b6d86161464f6509f7219099e57.access" ||
		s.AuthClientSecret.Reveal() != "bdd31cbc4dec990953e39163fbbb194c93313ca9f0a6e420346af9d326b1d2a5" ||
		s.ServiceMode != ModeProxy || s.ProxyPort != 40123 || s.AutoConnect != 15*time.Minute ||
		!s.SwitchLocked || s.Onboarding || !s.HasServiceToken() || len(s.Ignored) != 1 || s.Ignored[0] != "display_name (line 21)" {
		t.Fatalf("%+v", s)
	}
	if out := fmt.Sprintf("%v %+v", s, s); strings.Contains(out, "bdd31cbc") {
		t.Fatalf("the secret prints: %s", out)
	}
	// The <plist> wrapper and a minimal file.
	s, err = Parse([]byte(`<plist version="1.0"><dict><key>organization</key><string>acme</string></dict></plist>`), "mdm.xml")
	if err != nil || s.Organization != "acme" || s.HasServiceToken() || !s.Onboarding || s.ServiceMode != "" {
		t.Fatalf("%+v, %v", s, err)
	}
}

// Every mistake is reported with the file and the line to fix.
func TestParseErrors(t *testing.T) {
	line := func(n int, rest string) string { return strings.Repeat("\n", n-1) + rest }
	for _, tc := range []struct{ src, want string }{
		{"", "mdm.xml:1: the file is empty"},
		{line(3, "<dict><key>organization</key><string>acme</string>"), "mdm.xml:3: the <dict> is not closed"},
		{line(2, "<dict>\n<key>organisation</key><string>acme</string></dict>"), `mdm.xml:3: "organisation" is not an mdm.xml key (did you mean "organization"?)`},
		{"<dict>\n<key>organization</key>\n<string>Acme Corp</string></dict>", `mdm.xml:3: organization "Acme Corp" is not a team name`},
		{"<dict>\n<key>organization</key><string>acme</string>\n<key>proxy_port</key><integer>99999</integer>\n</dict>", `mdm.xml:3: proxy_port is "99999"; it must be a whole number from 1 to 65535`},
		{"<dict><key>organization</key><string>acme</string>\n<key>service_mode</key><string>1dot1</string></dict>", `mdm.xml:2: service_mode "1dot1" is a Cloudflare One Client mode ztagent does not have`},
		{"<dict><key>organization</key><string>acme</string>\n\n<key>auth_client_id</key><string>x.access</string></dict>", "mdm.xml:3: auth_client_id and auth_client_secret go together"},
		{"<dict><key>organization</key><string>acme</string>\n<key>switch_locked</key><integer>1</integer></dict>", "mdm.xml:2: switch_locked must be <true/> or <false/>, not <integer>"},
		{"<dict><key>organization</key><string>acme</string>\n<key>organization</key><string>b</string></dict>", `mdm.xml:2: key "organization" is given twice (first on line 1)`},
		{"<dict>\n<key>organization</key><string>acme</strin></dict>", "mdm.xml:2: not well-formed XML"},
		{"<dict><key>auto_connect</key><integer>5</integer></dict>", "mdm.xml:1: no organization"},
		{"<array><dict/></array>", "mdm.xml:1: an <array> of configurations"},
		{"<dict><key>organization</key><string>acme</string>\n<key>configs</key><array><dict/></array></dict>", "mdm.xml:2: configs (several organizations to choose from) is not supported"},
		{"<dict><key>organization</key><string>acme</string></dict>\n<dict/>", "mdm.xml:2: <dict> after the </dict>"},
		{"<dict><key>organization</key>\n</dict>", `mdm.xml:2: key "organization" has no value`},
	} {
		_, err := Parse([]byte(tc.src), "mdm.xml")
		var pe *Error
		if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %s…", tc.src, err, tc.want)
		}
	}
}

func TestReadFile(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "mdm.xml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "mdm.xml")
	if err := os.WriteFile(p, []byte(strings.Repeat(" ", MaxFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("huge file: %v", err)
	}
}

// Parse never panics, and every error names the file and a line inside
// it; a file that parses keeps the secret only in the secret field.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(`<plist><dict><key>organization</key><string>a</string></dict></plist>`))
	f.Add([]byte("<dict><key>x</key><dict><key>y</key><array/></dict></dict>"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Parse(src, "mdm.xml")
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "mdm.xml" || pe.Line < 1 || pe.Line > strings.Count(string(src), "\n")+1 {
				t.Fatalf("error %v (%#v) does not name a line of the file", err, err)
			}
			return
		}
		if s.Organization == "" {
			t.Fatal("parsed without an organization")
		}
	})
}

// Cloudflare's own parameter examples, with the team name capitalised
// as Cloudflare allows (it takes it in any case).
func TestParseCloudflareExample(t *testing.T) {
	s, err := Parse([]byte(`<dict>
  <key>organization</key>
  <string>Acme</string>
  <key>auth_client_id</key>
  <string>88bf3b6d86161464f6509f7219099e57.access</string>
  <key>auth_client_secret</key>
  <string>bdd31cbc4dec990953e39163fbbb194c93313ca9f0a6e420346af9d326b1d2a5</string>
  <key>service_mode</key>
  <string>proxy</string>
  <key>proxy_port</key>
  <integer>44444</integer>
  <key>gateway_unique_id</key>
  <string>abc123</string>
</dict>`), "mdm.xml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Organization != "acme" || s.ProxyPort != 44444 || s.ServiceMode != ModeProxy || len(s.Ignored) != 1 {
		t.Fatalf("%+v", s)
	}
}
