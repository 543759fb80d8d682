package access

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// routes serves the team domain. Every page is small, cached nowhere and
// framed by no one.
func (t *TeamDomain) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathWARP, t.serveWARP)
	mux.HandleFunc("GET "+PathCallback, t.serveCallback)
	mux.HandleFunc("POST "+PathWARPConfirm, t.serveConfirm)
	mux.HandleFunc("GET "+PathRefreshIdentity, t.serveRefreshIdentity)
	mux.HandleFunc("GET "+PathLogin+"{app}", t.serveAppLogin)
	mux.HandleFunc("POST "+PathDeviceCode, t.serveDeviceCode)
	mux.HandleFunc("POST "+PathDeviceToken, t.serveDeviceToken)
	mux.HandleFunc("GET "+PathDevice, t.serveDevice)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.errorPage(w, http.StatusNotFound, "Not found", "There is no page at this address of the "+t.team+" team domain.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// pageData fills pageTmpl.
type pageData struct {
	Team     string
	Title    string
	Message  string
	Error    bool
	Identity *Identity
	AuthTime string
	// Consent, when set, adds the enrollment confirmation form.
	Consent *consentForm
	// Choices, when set, lists the identity providers to sign in with.
	Choices []choice
	// CodeForm, when set, asks for a device's user code.
	CodeForm *codeForm
}

// consentForm is the enrollment confirmation: a POST of the pending
// confirmation's ID, which only this page knows.
type consentForm struct {
	Action string
	ID     string
}

// Element IDs (title, message, error, email, groups, auth-time, consent,
// confirm, idps, code-form, user_code, submit-code) are stable:
// tests read them.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · {{.Team}}</title>
<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;line-height:1.4}p.error{color:#b00}dt{font-weight:bold}</style>
</head>
<body>
<h1 id="title">{{.Title}}</h1>
{{if .Error}}<p class="error" id="error" role="alert">{{.Message}}</p>{{else}}<p id="message">{{.Message}}</p>{{end}}
{{with .Identity}}<dl>
<dt>Signed in as</dt><dd id="email">{{.Email}}{{if .Name}} ({{.Name}}){{end}}</dd>
<dt>Groups</dt><dd id="groups">{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{else}}none{{end}}</dd>
<dt>Session started</dt><dd id="auth-time">{{$.AuthTime}}</dd>
</dl>{{end}}
{{with .Choices}}<ul id="idps">{{range .}}<li><a class="idp" href="{{.URL}}">{{.Name}}</a></li>{{end}}</ul>{{end}}
{{with .CodeForm}}<form id="code-form" method="get" action="{{.Action}}">
<label>Code <input id="user_code" name="user_code" autocomplete="off" autocapitalize="characters"></label>
<button id="submit-code" type="submit">Continue</button>
</form>{{end}}
{{with .Consent}}<form id="consent" method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}">
<button id="confirm" type="submit">Register this device</button>
</form>{{end}}
</body>
</html>
`))

func (t *TeamDomain) render(w http.ResponseWriter, status int, d pageData) {
	d.Team = t.team
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, d); err != nil {
		t.log.Debug("access: writing a page failed", zap.Error(err))
	}
}

// errorPage tells the person in the browser what went wrong and what to do.
func (t *TeamDomain) errorPage(w http.ResponseWriter, status int, title, msg string) {
	t.render(w, status, pageData{Title: title, Message: msg, Error: true})
}

// refreshedPage confirms a refresh-identity.
func (t *TeamDomain) refreshedPage(w http.ResponseWriter, id Identity) {
	t.render(w, http.StatusOK, pageData{
		Title:    "Session refreshed",
		Message:  "Your " + strings.TrimSpace(t.team) + " session was refreshed and your groups were reloaded from the identity provider. You can close this page and go back to what you were doing.",
		Identity: &id,
		AuthTime: id.AuthenticatedAt.UTC().Format(time.RFC1123),
	})
}
