package gateway

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ztagent/ztagent/pkg/policy"
)

// blockPage is the HTML a blocked HTTP request gets. html/template escapes
// every value, the policy's own block reason included.
var blockPage = template.Must(template.New("block").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Expired}}<p>Your client session for this site has expired: your organization requires you to sign in again with your identity provider after {{.Duration}}.</p>
{{if .RefreshURL}}<p><a href="{{.RefreshURL}}">Re-authenticate</a>, then reload this page.</p>{{else}}<p>Re-authenticate from the Cloudflare One Client, then reload this page.</p>{{end}}
{{else if .NoIdPSession}}<p>This device enrolled with a service token, so no one has signed in on it with an identity provider, and this policy requires a sign-in within {{.Duration}}. Ask your administrator to exempt the device from the policy, or to enroll it with a user.</p>
{{else}}<p>{{if .BlockReason}}{{.BlockReason}}{{else}}Your organization's Gateway policy blocks this request.{{end}}</p>
{{end}}<p>Host: {{.Host}}<br>Policy: {{.Policy}}</p>
</main>
</body>
</html>
`))

type blockPageData struct {
	Title   string
	Expired bool
	// NoIdPSession is a block of a device enrolled with a service token
	// at a policy that checks the session.
	NoIdPSession bool
	Duration     string
	RefreshURL   string
	BlockReason  string
	Host         string
	Policy       string
}

// blockResponse is the 403 a blocked request gets: for session_expired a
// page that says so and links to the refresh-identity URL.
func (g *Gateway) blockResponse(req *http.Request, d policy.Decision, id Identity) *http.Response {
	data := blockPageData{Title: "Blocked by your organization", Host: req.Host}
	if d.Rule != nil {
		data.Policy, data.BlockReason = d.Rule.Name, d.Rule.BlockReason
	}
	if d.Reason == policy.ReasonSessionExpired {
		data.Title, data.Expired, data.RefreshURL = "Session expired", true, g.refresh
		if id.IdPID != "" {
			data.RefreshURL += "?idp=" + url.QueryEscape(id.IdPID)
		}
		if d.Rule != nil && d.Rule.Session != nil {
			data.Duration = d.Rule.Session.Duration.String()
		}
	}
	if d.Reason == policy.ReasonNoIdPSession {
		data.NoIdPSession = true
		if d.Rule != nil && d.Rule.Session != nil {
			data.Duration = d.Rule.Session.Duration.String()
		}
	}
	var body bytes.Buffer
	if err := blockPage.Execute(&body, data); err != nil {
		return plainResponse(req, http.StatusForbidden, "Blocked by your organization's Gateway policy.\n", false)
	}
	return response(req, http.StatusForbidden, "text/html; charset=utf-8", body.Bytes(), false)
}

// plainResponse is a short text answer from the Gateway itself.
func plainResponse(req *http.Request, status int, text string, closeConn bool) *http.Response {
	return response(req, status, "text/plain; charset=utf-8", []byte(text), closeConn)
}

// Response returns an answer to req that the Gateway, or a RequestHook,
// sends instead of forwarding it: never cached (it depends on the session,
// not on the URL alone), the connection kept open.
func Response(req *http.Request, status int, contentType string, body []byte) *http.Response {
	return response(req, status, contentType, body, false)
}

func response(req *http.Request, status int, contentType string, body []byte, closeConn bool) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
		Close:         closeConn,
	}
}
