// Package mdm reads Cloudflare's managed-deployment file, mdm.xml: the
// plist-style <dict> of keys and values the Cloudflare One Client reads on
// Linux (/var/lib/cloudflare-warp/mdm.xml there, /var/lib/ztagent/mdm.xml
// here), with Cloudflare's key names and meanings. Parse reports the first
// problem as "FILE:LINE: …", so that the administrator who wrote it knows
// where to look; a secret is held as a secret.Value and never printed.
package mdm

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ztagent/ztagent/internal/didyoumean"
	"github.com/ztagent/ztagent/internal/secret"
)

// MaxFileSize bounds the file: a real one is a few hundred bytes.
const MaxFileSize = 64 << 10

// Service modes (service_mode).
const (
	// ModeWARP is Cloudflare's "warp" mode: all traffic through the
	// tunnel, which ztagent runs as a TUN interface (Linux, root).
	ModeWARP = "warp"
	// ModeProxy is the local proxy (proxy_port), no root needed.
	ModeProxy = "proxy"
)

// Settings are the keys of one mdm.xml. Zero values mean "not set": the
// daemon's own settings apply.
type Settings struct {
	// File is the path the settings were read from.
	File string
	// Organization is the team name the device enrolls in (required).
	Organization string
	// AuthClientID and AuthClientSecret are an Access service token: with
	// them the device enrolls unattended, as a non-identity device.
	AuthClientID     string
	AuthClientSecret secret.Value
	// ServiceMode is ModeWARP, ModeProxy or "" (not set).
	ServiceMode string
	// ProxyPort is the local proxy's port in proxy mode; 0 when not set.
	ProxyPort int
	// AutoConnect is how long after a user turns the client off it turns
	// itself back on; zero when not set or 0 (never).
	AutoConnect time.Duration
	// SwitchLocked forbids users to turn the client off (only root may).
	SwitchLocked bool
	// Onboarding is false when the file turns off the first-run screens
	// (a front-end's concern); true when not set.
	Onboarding bool
	// Ignored lists the keys Cloudflare defines that ztagent does not
	// apply, with their lines, for the daemon to log once.
	Ignored []string
}

// HasServiceToken reports whether the file gives service token
// credentials.
func (s *Settings) HasServiceToken() bool { return s != nil && s.AuthClientID != "" }

// Error is a problem in the file: where, and what to do.
type Error struct {
	File string
	Line int
	Msg  string
}

// Error returns "FILE:LINE: message".
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ReadFile reads and parses path. A missing file is fs.ErrNotExist,
// unwrapped by errors.Is, so that callers can treat it as "no MDM".
func ReadFile(path string) (*Settings, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return Parse(b, path)
}

// known are the keys Cloudflare documents for mdm.xml that ztagent
// accepts without applying (see the package README for what each does in
// the real client).
var known = map[string]bool{
	"display_name": true, "unique_client_id": true, "support_url": true, "gateway_unique_id": true,
	"override_api_endpoint": true, "override_doh_endpoint": true, "override_warp_endpoint": true,
	"enable_post_quantum": true, "enable_netbt": true, "warp_tunnel_protocol": true,
	"pre_login": true,
}

// Parse reads an mdm.xml held in memory; name is the file's name for the
// errors.
func Parse(src []byte, name string) (*Settings, error) {
	p := &parser{name: name, src: src, d: xml.NewDecoder(bytes.NewReader(src))}
	p.d.Strict = true
	if len(src) > MaxFileSize {
		return nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("the file is larger than %d KiB; an mdm.xml holds a few keys", MaxFileSize>>10)}
	}
	s, err := p.parse()
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, &Error{File: name, Line: p.line(), Msg: err.Error()}
	}
	s.File = name
	return s, nil
}

type parser struct {
	name string
	src  []byte
	d    *xml.Decoder
}

func (p *parser) line() int {
	l, _ := p.d.InputPos()
	if l < 1 {
		return 1
	}
	return l
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &Error{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next start or end element, skipping text that is only
// white space, comments, processing instructions and the doctype.
func (p *parser) next() (xml.Token, int, error) {
	for {
		line := p.line()
		tok, err := p.d.Token()
		if err == io.EOF {
			return nil, line, err
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				if se.Msg == "unexpected EOF" {
					return nil, se.Line, io.EOF // the caller says what is unclosed
				}
				return nil, se.Line, p.errorf(se.Line, "not well-formed XML: %s", se.Msg)
			}
			return nil, line, p.errorf(line, "not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, p.line(), nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, p.line(), p.errorf(p.line(), "text %q outside a <key> or value element", truncate(string(bytes.TrimSpace(t))))
			}
		}
	}
}

func (p *parser) parse() (*Settings, error) {
	tok, line, err := p.next()
	if err == io.EOF {
		return nil, p.errorf(1, "the file is empty; it needs a <dict> with at least <key>organization</key><string>TEAM</string>")
	}
	if err != nil {
		return nil, err
	}
	start, ok := tok.(xml.StartElement)
	if ok && start.Name.Local == "plist" {
		if tok, line, err = p.next(); err != nil {
			return nil, p.eof(err, line, "<plist> ends before its <dict>")
		}
		start, ok = tok.(xml.StartElement)
	}
	if !ok || start.Name.Local != "dict" {
		if ok && start.Name.Local == "array" {
			return nil, p.errorf(line, "an <array> of configurations (several organizations) is not supported; keep one <dict>")
		}
		return nil, p.errorf(line, "the file must hold one <dict> (optionally inside <plist>), not %s", describe(tok))
	}
	s, err := p.dict(line)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) eof(err error, line int, msg string) error {
	if err == io.EOF {
		return p.errorf(line, "%s", msg)
	}
	return err
}

// dict reads the keys of the top-level <dict> up to its end.
func (p *parser) dict(dictLine int) (*Settings, error) {
	s := &Settings{Onboarding: true}
	seen := map[string]int{}
	for {
		tok, line, err := p.next()
		if err != nil {
			return nil, p.eof(err, line, "the <dict> is not closed; end it with </dict>")
		}
		if end, ok := tok.(xml.EndElement); ok && end.Name.Local == "dict" {
			break
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "key" {
			return nil, p.errorf(line, "expected <key>NAME</key>, found %s", describe(tok))
		}
		key, err := p.text("key", line)
		if err != nil {
			return nil, err
		}
		key = strings.TrimSpace(key)
		if prev, dup := seen[key]; dup {
			return nil, p.errorf(line, "key %q is given twice (first on line %d); keep one", key, prev)
		}
		seen[key] = line
		v, vline, err := p.value(key)
		if err != nil {
			return nil, err
		}
		if err := s.set(key, v, vline, p); err != nil {
			return nil, err
		}
	}
	for {
		tok, line, err := p.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if end, ok := tok.(xml.EndElement); ok && end.Name.Local == "plist" {
			continue
		}
		return nil, p.errorf(line, "%s after the </dict>; the file holds one <dict>", describe(tok))
	}
	if s.Organization == "" {
		return nil, p.errorf(dictLine, "no organization: add <key>organization</key><string>TEAM</string> (your team name)")
	}
	if (s.AuthClientID == "") != s.AuthClientSecret.IsZero() {
		line := seen["auth_client_id"] + seen["auth_client_secret"]
		return nil, p.errorf(line, "auth_client_id and auth_client_secret go together (a service token's Client ID and Client Secret); give both or neither")
	}
	if s.ProxyPort != 0 && s.ServiceMode != ModeProxy {
		return nil, p.errorf(seen["proxy_port"], "proxy_port applies only with <key>service_mode</key><string>proxy</string>")
	}
	return s, nil
}

// value is one value element: its kind ("string", "integer", "true",
// "false", "dict", "array", …) and text.
type value struct {
	kind, text string
}

func (p *parser) value(key string) (value, int, error) {
	tok, line, err := p.next()
	if err != nil {
		return value{}, line, p.eof(err, line, fmt.Sprintf("key %q has no value", key))
	}
	start, ok := tok.(xml.StartElement)
	if !ok || start.Name.Local == "key" {
		return value{}, line, p.errorf(line, "key %q has no value: put <string>…</string>, <integer>…</integer>, <true/> or <false/> after it", key)
	}
	switch k := start.Name.Local; k {
	case "true", "false":
		if _, err := p.text(k, line); err != nil {
			return value{}, line, err
		}
		return value{kind: k}, line, nil
	case "string", "integer":
		t, err := p.text(k, line)
		return value{kind: k, text: t}, line, err
	case "dict", "array":
		if err := p.skip(k, line); err != nil {
			return value{}, line, err
		}
		return value{kind: k}, line, nil
	default:
		return value{}, line, p.errorf(line, "<%s> is not a value mdm.xml uses; write <string>, <integer>, <true/> or <false/>", k)
	}
}

// text returns the character data of the element just opened, which must
// hold nothing else.
func (p *parser) text(elem string, line int) (string, error) {
	var b strings.Builder
	for {
		tok, err := p.d.Token()
		if err != nil {
			if err == io.EOF {
				return "", p.errorf(line, "<%s> is not closed", elem)
			}
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return "", p.errorf(se.Line, "not well-formed XML: %s", se.Msg)
			}
			return "", p.errorf(p.line(), "not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		case xml.StartElement:
			return "", p.errorf(p.line(), "<%s> inside <%s>; it holds only text", t.Name.Local, elem)
		}
	}
}

// skip passes over a nested element the daemon does not read.
func (p *parser) skip(elem string, line int) error {
	if err := p.d.Skip(); err != nil {
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return p.errorf(se.Line, "not well-formed XML: %s", se.Msg)
		}
		return p.errorf(line, "<%s> is not closed", elem)
	}
	return nil
}

func describe(tok xml.Token) string {
	switch t := tok.(type) {
	case xml.StartElement:
		return "<" + t.Name.Local + ">"
	case xml.EndElement:
		return "</" + t.Name.Local + ">"
	}
	return "nothing"
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// set applies one key.
func (s *Settings) set(key string, v value, line int, p *parser) error {
	wantString := func() (string, error) {
		if v.kind != "string" {
			return "", p.errorf(line, "%s must be a <string>, not <%s>", key, v.kind)
		}
		return strings.TrimSpace(v.text), nil
	}
	wantBool := func() (bool, error) {
		switch {
		case v.kind == "true" || v.kind == "false":
			return v.kind == "true", nil
		case v.kind == "string" && (strings.TrimSpace(v.text) == "true" || strings.TrimSpace(v.text) == "false"):
			return strings.TrimSpace(v.text) == "true", nil
		}
		return false, p.errorf(line, "%s must be <true/> or <false/>, not <%s>", key, v.kind)
	}
	wantInt := func(lo, hi int) (int, error) {
		if v.kind != "integer" && v.kind != "string" {
			return 0, p.errorf(line, "%s must be an <integer>, not <%s>", key, v.kind)
		}
		n, err := strconv.Atoi(strings.TrimSpace(v.text))
		if err != nil || n < lo || n > hi {
			return 0, p.errorf(line, "%s is %q; it must be a whole number from %d to %d", key, truncate(v.text), lo, hi)
		}
		return n, nil
	}
	var err error
	switch key {
	case "organization":
		// Cloudflare takes the team name in any case.
		if s.Organization, err = wantString(); err == nil && !validTeam(strings.ToLower(s.Organization)) {
			err = p.errorf(line, "organization %q is not a team name (letters, digits and '-', as in <team>.cloudflareaccess.com)", truncate(s.Organization))
		}
		s.Organization = strings.ToLower(s.Organization)
	case "auth_client_id":
		if s.AuthClientID, err = wantString(); err == nil && (s.AuthClientID == "" || len(s.AuthClientID) > 256) {
			err = p.errorf(line, "auth_client_id must be the service token's Client ID (such as 88bf3b6d86161464f6509f7219099e57.access)")
		}
	case "auth_client_secret":
		var sec string
		if sec, err = wantString(); err == nil {
			if sec == "" || len(sec) > 256 {
				err = p.errorf(line, "auth_client_secret must be the service token's Client Secret")
			}
			s.AuthClientSecret = secret.New(sec)
		}
	case "service_mode":
		var m string
		if m, err = wantString(); err == nil {
			switch m {
			case ModeWARP, ModeProxy:
				s.ServiceMode = m
			case "1dot1", "postureonly", "tunnel_only":
				err = p.errorf(line, "service_mode %q is a Cloudflare One Client mode ztagent does not have; use warp (the tunnel) or proxy", m)
			default:
				err = p.errorf(line, "service_mode %q is not a mode; use warp or proxy", truncate(m))
			}
		}
	case "proxy_port":
		s.ProxyPort, err = wantInt(1, 65535)
	case "auto_connect":
		var n int
		// Cloudflare allows 0 (off) to 1440 minutes.
		if n, err = wantInt(0, 1440); err == nil {
			s.AutoConnect = time.Duration(n) * time.Minute
		}
	case "switch_locked":
		s.SwitchLocked, err = wantBool()
	case "onboarding":
		s.Onboarding, err = wantBool()
	case "configs":
		err = p.errorf(line, "configs (several organizations to choose from) is not supported; keep one organization's keys in the <dict>")
	default:
		if !known[key] {
			return p.errorf(line, "%q is not an mdm.xml key%s; the keys are organization, auth_client_id, auth_client_secret, service_mode, proxy_port, auto_connect, switch_locked, onboarding and those Cloudflare documents", truncate(key), suggest(key))
		}
		s.Ignored = append(s.Ignored, fmt.Sprintf("%s (line %d)", key, line))
	}
	return err
}

var applied = []string{"organization", "auth_client_id", "auth_client_secret", "service_mode", "proxy_port", "auto_connect", "switch_locked", "onboarding"}

// suggest names the applied key closest to a misspelt one.
func suggest(key string) string {
	if best := didyoumean.Closest(key, applied); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func validTeam(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
