package idp

import (
	"html/template"
	"net/http"
)

// The login page. Element IDs (email, password, submit, error) are stable:
// the e2e tests drive this form with a real browser.
var loginTmpl = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title>
<style>body{font-family:sans-serif;max-width:22em;margin:4em auto}label,input,button{display:block;width:100%;margin:.3em 0}p.error{color:#b00}</style>
</head>
<body>
<h1>Sign in</h1>
{{if .Error}}<p class="error" id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="request" value="{{.Request}}">
<label for="email">Email</label>
<input type="email" id="email" name="email" value="{{.Email}}" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="submit">Sign in</button>
</form>
</body>
</html>
`))

var errorTmpl = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign-in error</title></head>
<body>
<h1>Sign-in error</h1>
<p id="error">{{.}}</p>
</body>
</html>
`))

func pageHeaders(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
}

// loginPage shows the login form for the pending request id. email
// pre-fills the email field; errMsg, when set, says why the last try failed.
func (p *Provider) loginPage(w http.ResponseWriter, status int, id, email, errMsg string) {
	pageHeaders(w, status)
	_ = loginTmpl.Execute(w, struct{ Action, Request, Email, Error string }{PathLogin, id, email, errMsg})
}

// errorPage shows msg to the person in the browser.
func (p *Provider) errorPage(w http.ResponseWriter, status int, msg string) {
	pageHeaders(w, status)
	_ = errorTmpl.Execute(w, msg)
}
