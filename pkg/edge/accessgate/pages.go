package accessgate

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/ztagent/ztagent/pkg/edge/gateway"
)

// page is the HTML the gate answers with itself. html/template escapes
// every value: e-mails and policy names come from configuration and IdPs.
var page = template.Must(template.New("access").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>{{end}}
<p>Application: {{.App}} ({{.Domain}}){{if .Policy}}<br>Policy: {{.Policy}}{{end}}</p>
</main>
</body>
</html>
`))

type pageData struct {
	Title, Message, Link, LinkText, App, Domain, Policy string
}

// deniedPage is the 403 a request gets when the application's policies do
// not let its user in.
func deniedPage(req *http.Request, a *app, email, policy string) *http.Response {
	msg := "You (" + email + ") are signed in, but your organization's Access policies do not allow you to reach this application."
	if policy == "" {
		msg = "You (" + email + ") are signed in, but no Access policy of this application lets you in."
	}
	return htmlResponse(req, http.StatusForbidden, pageData{
		Title: "Access denied", Message: msg + " Ask your administrator if you need it.",
		App: a.name, Domain: a.host, Policy: policy,
	})
}

// signInAgainPage answers an application token that is not valid (expired,
// replayed from another application, forged).
func signInAgainPage(req *http.Request, a *app, login string) *http.Response {
	return htmlResponse(req, http.StatusUnauthorized, pageData{
		Title: "Sign in again", Message: "The sign-in for this application did not complete: its token is not valid here or has expired.",
		Link: login, LinkText: "Sign in again", App: a.name, Domain: a.host,
	})
}

// loginRedirect is a 302 to target; the body says where, for clients that
// do not follow redirects.
func loginRedirect(req *http.Request, target string) *http.Response {
	body := []byte("Sign in to continue: " + target + "\n")
	resp := gateway.Response(req, http.StatusFound, "text/plain; charset=utf-8", body)
	resp.Header.Set("Location", target)
	return resp
}

func htmlResponse(req *http.Request, status int, d pageData) *http.Response {
	var b bytes.Buffer
	if err := page.Execute(&b, d); err != nil {
		return textResponse(req, status, d.Title+"\n")
	}
	return gateway.Response(req, status, "text/html; charset=utf-8", b.Bytes())
}

func textResponse(req *http.Request, status int, text string) *http.Response {
	return gateway.Response(req, status, "text/plain; charset=utf-8", []byte(text))
}
