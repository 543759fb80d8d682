package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// The MDM file is read again on SIGHUP: a broken edit is reported with its
// line and the last good settings stay; a removed file drops them.
func TestMDMReaderKeepsLastGood(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mdm.xml")
	r := &mdmReader{path: p, log: zap.NewNop()}
	if s, err := r.read(); s != nil || err != nil {
		t.Fatalf("no file: %+v, %v", s, err)
	}
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("<dict>\n<key>organization</key><string>acme</string>\n<key>switch_locked</key><true/>\n</dict>\n")
	s, err := r.read()
	if err != nil || s.Organization != "acme" || !s.SwitchLocked {
		t.Fatalf("good file: %+v, %v", s, err)
	}
	write("<dict>\n<key>organization</key><string>acme</string>\n<key>switch_locked</key><yes/>\n</dict>\n")
	s2, err := r.read()
	if err == nil || !strings.HasPrefix(err.Error(), p+":3: <yes> is not a value") || !strings.Contains(err.Error(), "keeps the settings it read before") || s2 != s {
		t.Fatalf("broken file: %+v, %v", s2, err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if s, err := r.read(); s != nil || err != nil {
		t.Fatalf("removed file: %+v, %v", s, err)
	}
}

// The MDM file decides what the command line leaves at its defaults.
func TestApplyMDM(t *testing.T) {
	write := filepath.Join(t.TempDir(), "mdm.xml")
	if err := os.WriteFile(write, []byte(`<dict><key>organization</key><string>acme</string>
<key>service_mode</key><string>proxy</string><key>proxy_port</key><integer>40123</integer></dict>`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := (&mdmReader{path: write, log: zap.NewNop()}).read()
	if err != nil {
		t.Fatal(err)
	}
	c := runConfig{mode: "proxy", proxyAddr: "127.0.0.1:40000", team: ""}
	c.applyMDM(s, func(string) bool { return false }, zap.NewNop())
	if c.team != "acme" || c.proxyAddr != "127.0.0.1:40123" || c.mode != "proxy" {
		t.Fatalf("defaults: %+v", c)
	}
	c = runConfig{mode: "proxy", proxyAddr: "127.0.0.1:5555", team: "other"}
	c.applyMDM(s, func(name string) bool { return name == "proxy-addr" }, zap.NewNop())
	if c.proxyAddr != "127.0.0.1:5555" || c.team != "acme" {
		t.Fatalf("a flag given wins: %+v", c)
	}
}
