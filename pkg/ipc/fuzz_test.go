package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// fuzzCallers are the caller classes a fuzzed request comes from: root, the
// operator, another user.
var fuzzCallers = []Caller{{UID: 0}, {UID: 1000}, {UID: uidOther}}

// FuzzDecodeRequest feeds raw HTTP requests through the whole request path
// (routing, permission, body bound, JSON and query decoding, handlers) and
// checks what must hold for any input: an answer with the version header,
// a well-formed error body for every refusal, Origin/Referer always refused
// and no route beyond Anyone ever granted to a user who is not the operator.
func FuzzDecodeRequest(f *testing.F) {
	const jsonCT = "Content-Type: application/json\r\n"
	for _, seed := range []string{
		"GET /v1/status HTTP/1.1\r\nHost: agentd\r\n\r\n",
		"GET /v1/events HTTP/1.1\r\nHost: agentd\r\n\r\n",
		"GET /v1/explain?dst=wiki.acme.test:443&proto=tcp HTTP/1.1\r\nHost: agentd\r\n\r\n",
		"GET /v1/explain?dst=%5B::1%5D:53&proto=udp HTTP/1.1\r\nHost: agentd\r\n\r\n",
		"POST /v1/registration HTTP/1.1\r\nHost: agentd\r\n" + jsonCT + "Content-Length: 15\r\n\r\n{\"team\":\"acme\"}",
		"POST /v1/registration HTTP/1.1\r\nHost: agentd\r\nContent-Length: 0\r\n\r\n",
		"DELETE /v1/registration HTTP/1.1\r\nHost: agentd\r\n\r\n",
		"PATCH /v1/settings HTTP/1.1\r\nHost: agentd\r\n" + jsonCT + "Content-Length: 14\r\n\r\n{\"mode\":\"tun\"}",
		"PATCH /v1/settings HTTP/1.1\r\nHost: agentd\r\n" + jsonCT + "Transfer-Encoding: chunked\r\n\r\n1d\r\n{\"proxy_addr\":\"127.0.0.1:1\"}\r\n0\r\n\r\n",
		"PATCH /v1/settings HTTP/1.1\r\nHost: agentd\r\n" + jsonCT + "Content-Length: 20\r\n\r\n{\"mode\":\"tun\",\"x\":1}",
		"PATCH /v1/settings HTTP/1.1\r\nHost: agentd\r\n" + jsonCT + "Content-Length: 99999\r\n\r\n{}",
		"POST /v1/connect HTTP/1.1\r\nHost: agentd\r\nOrigin: http://evil.example\r\n\r\n",
		"POST /v1/reauth HTTP/1.1\r\nHost: agentd\r\nReferer: http://evil.example/\r\n\r\n",
		"PUT /v1/status HTTP/1.1\r\nHost: agentd\r\n\r\n",
		"GET /v1/../v1/status HTTP/1.1\r\nHost: agentd\r\n\r\n",
	} {
		for i := range fuzzCallers {
			f.Add([]byte(seed), uint8(i))
		}
	}
	fake := newFakeBackend()
	fake.operator = 1000
	fake.endStreams = true
	srv := newServer(ServerOptions{Backend: fake, DaemonVersion: "fuzz"})
	f.Cleanup(srv.cancel)

	f.Fuzz(func(t *testing.T, data []byte, who uint8) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		caller := fuzzCallers[int(who)%len(fuzzCallers)]
		req = req.WithContext(context.WithValue(context.Background(), connInfoKey{}, &connInfo{caller: caller, hasSlot: true}))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		if v := rec.Header().Get(ipcproto.APIVersionHeader); v != ipcproto.Version {
			t.Fatalf("answer without the API version header: %q", v)
		}
		body := rec.Body.Bytes()
		if rec.Code != http.StatusOK {
			var eb apierror.Body
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("status %d with a malformed error body %q", rec.Code, body)
			}
			switch rec.Code {
			case 400, 403, 404, 405, 413, 415:
			default:
				t.Fatalf("unexpected status %d: %s", rec.Code, body)
			}
		}
		if req.Header.Get("Origin") != "" || req.Header.Get("Referer") != "" {
			if rec.Code != http.StatusForbidden || !strings.Contains(string(body), ipcproto.CodeForbiddenOrigin) {
				t.Fatalf("a request with Origin/Referer got %d %s", rec.Code, body)
			}
			return
		}
		rt, _ := srv.index.lookup(req.Method, req.URL.Path)
		if rec.Code == http.StatusOK && rt != nil && rt.Who != Anyone && caller.UID == uidOther {
			t.Fatalf("another user was granted %s %s", rt.Method, rt.Path)
		}
		if rec.Code != http.StatusOK || rt == nil {
			return
		}
		if rt.Path == "/v1/events" {
			line, _, _ := bytes.Cut(body, []byte("\n"))
			var ev ipcproto.Event
			if err := json.Unmarshal(line, &ev); err != nil || ev.Type != ipcproto.EventSnapshot {
				t.Fatalf("stream did not start with a snapshot: %q", body)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("200 with a body that is not JSON: %q", body)
		}
	})
}
