package scriptbrowser

import (
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// loginForm is a login form found on a page: where it posts and the fields
// it would send, with the IDs of the email and password inputs resolved to
// their names.
type loginForm struct {
	action        string
	method        string
	fields        url.Values
	emailName     string
	passwordName  string
	submitPresent bool // the form has a #submit button
}

// findLoginForm returns the form that holds the #email and #password inputs,
// or nil when the page has none.
func findLoginForm(doc *html.Node) *loginForm {
	email := byID(doc, "email")
	password := byID(doc, "password")
	if email == nil || password == nil {
		return nil
	}
	form := ancestor(email, "form")
	if form == nil || ancestor(password, "form") != form {
		return nil
	}
	f := &loginForm{
		action:        attr(form, "action"),
		method:        strings.ToUpper(attr(form, "method")),
		fields:        url.Values{},
		emailName:     attr(email, "name"),
		passwordName:  attr(password, "name"),
		submitPresent: byID(form, "submit") != nil,
	}
	if f.method == "" {
		f.method = "GET"
	}
	f.fields = formFields(form)
	return f
}

// findConsentForm returns the form #consent with its #confirm button (the
// team domain's enrollment confirmation), or nil when the page has none.
func findConsentForm(doc *html.Node) *loginForm {
	form := byID(doc, "consent")
	if form == nil || form.Data != "form" || byID(form, "confirm") == nil {
		return nil
	}
	f := &loginForm{action: attr(form, "action"), method: strings.ToUpper(attr(form, "method")), fields: formFields(form), submitPresent: true}
	if f.method == "" {
		f.method = "GET"
	}
	return f
}

// formFields returns what a browser would send for form's inputs.
func formFields(form *html.Node) url.Values {
	fields := url.Values{}
	walk(form, func(n *html.Node) {
		if n.Type != html.ElementNode || n.Data != "input" {
			return
		}
		name := attr(n, "name")
		if name == "" {
			return
		}
		switch strings.ToLower(attr(n, "type")) {
		case "submit", "button", "image", "reset", "file":
			return
		case "checkbox", "radio":
			if !hasAttr(n, "checked") {
				return
			}
		}
		fields.Add(name, attr(n, "value"))
	})
	return fields
}

// errorText returns the trimmed text of the page's #error element, or "".
func errorText(doc *html.Node) string {
	if e := byID(doc, "error"); e != nil {
		return strings.TrimSpace(text(e))
	}
	return ""
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func byID(root *html.Node, id string) *html.Node {
	var found *html.Node
	walk(root, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && attr(n, "id") == id {
			found = n
		}
	})
	return found
}

func ancestor(n *html.Node, tag string) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return p
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}
