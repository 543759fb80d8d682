package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/kardianos/service"
)

func TestNativeServiceConfigWindows(t *testing.T) {
	cfg, err := nativeServiceConfig("windows", `C:\Program Files\ztagent\agentd.exe`, []string{"--edge-api=https://edge.example"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != serviceName || !slices.Equal(cfg.Arguments, []string{"run", "--edge-api=https://edge.example"}) || cfg.UserName != "" {
		t.Errorf("config %+v: want agentd run as LocalSystem", cfg)
	}
	for k, want := range map[string]any{"StartType": "automatic", "OnFailure": "restart", "OnFailureDelayDuration": "5s", "OnFailureResetPeriod": 86400} {
		if cfg.Option[k] != want {
			t.Errorf("option %s = %v, want %v", k, cfg.Option[k], want)
		}
	}
	if _, err := nativeServiceConfig("windows", "agentd.exe", []string{"--team=a\nb"}); err == nil {
		t.Error("a run argument with a line break was accepted")
	}
	if _, err := nativeServiceConfig("linux", "agentd", nil); err == nil {
		t.Error("Linux got a native configuration; it uses the systemd unit")
	}
}

// The launchd job renders, as kardianos/service fills it in, to a
// property list that parses, restarts only after a failure and quotes
// what it is given.
func TestNativeServiceConfigLaunchd(t *testing.T) {
	cfg, err := nativeServiceConfig("darwin", "/usr/local/bin/agentd", []string{"--team=<acme & co>"})
	if err != nil {
		t.Fatal(err)
	}
	plist, _ := cfg.Option["LaunchdConfig"].(string)
	var out bytes.Buffer
	data := struct {
		*service.Config
		Path string
	}{cfg, cfg.Executable}
	if err := template.Must(template.New("plist").Parse(plist)).Execute(&out, data); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(out.Bytes()))
	dec.Strict = false // the DOCTYPE's DTD is not fetched
	var keys, strs []string
	var last string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the plist does not parse: %v\n%s", err, out.String())
		}
		switch v := tok.(type) {
		case xml.StartElement:
			last = v.Name.Local
		case xml.CharData:
			if s := strings.TrimSpace(string(v)); s != "" && last == "key" {
				keys = append(keys, s)
			} else if s != "" && last == "string" {
				strs = append(strs, s)
			}
		}
	}
	for _, k := range []string{"Label", "ProgramArguments", "RunAtLoad", "KeepAlive", "SuccessfulExit", "ThrottleInterval", "StandardErrorPath"} {
		if !slices.Contains(keys, k) {
			t.Errorf("the plist has no %s key: %v", k, keys)
		}
	}
	if !slices.Contains(strs, "--team=<acme & co>") || !slices.Contains(strs, "/usr/local/bin/agentd") || !slices.Contains(strs, serviceName) {
		t.Errorf("the plist's strings %q", strs)
	}
	if !strings.Contains(out.String(), "&lt;acme &amp; co&gt;") {
		t.Errorf("an argument was not escaped:\n%s", out.String())
	}
}
