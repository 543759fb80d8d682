package browseurl

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode"
)

var allowed = []string{"acme.localhost:8781", "idp.localhost:8782"}

func TestValidateBrowseURLAccepts(t *testing.T) {
	for _, ok := range []string{
		"http://acme.localhost:8781/cdn-cgi/access/refresh-identity",
		"http://ACME.localhost:8781/warp?redirect_uri=http%3A%2F%2F127.0.0.1%3A4000%2Fcallback&state=x",
		"http://idp.localhost:8782/authorize?prompt=login#frag",
	} {
		if _, err := Validate(ok, allowed...); err != nil {
			t.Errorf("rejected %q: %v", ok, err)
		}
	}
}

func TestValidateBrowseURLRejects(t *testing.T) {
	for _, bad := range []string{
		"",
		"file:///etc/passwd",
		"smb://acme.localhost:8781/share",
		"calc",
		"-a x",
		"--new-window http://acme.localhost:8781/",
		"javascript:alert(1)",
		"http://user@acme.localhost:8781/",
		"http://user:pw@acme.localhost:8781/",
		"http://acme.localhost:8781@evil.example/",
		"http://acme.localhost:8781/\x00",
		"http://acme.localhost:8781/\r\nX: y",
		"http://acme.localhost:8781/\x1b[2J",
		"http://acme.localhost:8781/a b",
		"http://acme.localhost:8781/\u202e",
		"http://evil.example/",
		"http://acme.localhost/",      // wrong port
		"http://acme.localhost:8782/", // the IdP's port on the team host
		"http://acme.localhost:8781.evil.example/",
		"https://evil.example/?u=http://acme.localhost:8781",
		"http:acme.localhost:8781",
		"http:/acme.localhost:8781/x",
		"//acme.localhost:8781/",
		"http://acme.localhost:8781\\@evil.example/",
		"HTTP://acme.localhost:8781/x\x7f",
		"http://" + strings.Repeat("a", 9000),
		"\xff\xfe",
		"http://\u0130dp.localhost:8782/",               // İ: a browser maps it to another domain
		"http://acme.local\u212Aost:8781/",              // Kelvin sign
		"http://acme.localhost:8781\u3002evil.example/", // ideographic full stop
		"http://xn--acme-.localhost:8781/",
	} {
		if u, err := Validate(bad, allowed...); err == nil {
			t.Errorf("accepted %q (host %q)", bad, u.Host)
		} else if !errors.Is(err, ErrUnsafe) {
			t.Errorf("%q: error %v does not wrap ErrUnsafe", bad, err)
		}
	}
}

func TestValidateBrowseURLOriginsPinTheScheme(t *testing.T) {
	origins := []string{"https://acme.cloudflareaccess.com", "https://login.microsoftonline.com/"}
	if _, err := Validate("https://ACME.cloudflareaccess.com/cdn-cgi/access/refresh-identity", origins...); err != nil {
		t.Fatal(err)
	}
	if _, err := Validate("https://login.microsoftonline.com/common/oauth2", origins...); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"http://acme.cloudflareaccess.com/cdn-cgi/access/refresh-identity", // downgrade
		"https://login.microsoftonl\u0130ne.com/x",
		"https://acme.cloudflareaccess.com:444/",
	} {
		if _, err := Validate(bad, origins...); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestValidateBrowseURLErrorNamesTheProblem(t *testing.T) {
	_, err := Validate("http://evil.example/", allowed...)
	if err == nil || !strings.Contains(err.Error(), `host "evil.example"`) || !strings.Contains(err.Error(), "acme.localhost:8781") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzValidateBrowseURL checks that whatever passes the validator is safe to
// hand to a browser launcher.
func FuzzValidateBrowseURL(f *testing.F) {
	for _, s := range []string{
		"http://acme.localhost:8781/cdn-cgi/access/refresh-identity",
		"http://idp.localhost:8782/authorize?prompt=login",
		"file:///etc/passwd", "calc", "-a x", "http://u@acme.localhost:8781/",
		"http://acme.localhost:8781/\x00", "http://evil.example/", "HTTP://ACME.LOCALHOST:8781",
		"http://acme.localhost:8781\\@evil/", "http://[::1]:8781/", "http://acme.localhost:8781/%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := Validate(raw, allowed...)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q in %q", u.Scheme, raw)
		}
		if u.User != nil {
			t.Fatalf("accepted userinfo in %q", raw)
		}
		if strings.HasPrefix(raw, "-") {
			t.Fatalf("accepted leading '-' in %q", raw)
		}
		for _, r := range raw {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				t.Fatalf("accepted control or space %U in %q", r, raw)
			}
		}
		// An oracle independent of the validator: the host, byte by byte, is
		// printable ASCII and equal to an allowed host after ASCII lowering.
		lower := make([]byte, len(u.Host))
		for i := 0; i < len(u.Host); i++ {
			c := u.Host[i]
			if c < 0x21 || c > 0x7e {
				t.Fatalf("accepted non-ASCII or non-printable host byte %#x in %q", c, raw)
			}
			if c >= 'A' && c <= 'Z' {
				c += 32
			}
			lower[i] = c
		}
		if string(lower) != allowed[0] && string(lower) != allowed[1] {
			t.Fatalf("accepted host %q in %q", u.Host, raw)
		}
		// What a browser will parse must agree with what we checked.
		again, err := url.Parse(u.String())
		if err != nil || !strings.EqualFold(again.Host, u.Host) || again.User != nil {
			t.Fatalf("re-parse of %q disagrees: %v %v", raw, again, err)
		}
	})
}
