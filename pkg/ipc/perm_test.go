package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// designTable is DESIGN §4's permission table, transcribed by hand so that
// a change to Routes() that the design does not make fails a test.
var designTable = map[string]Who{
	"GET /v1/status":          Anyone,
	"GET /v1/session":         Anyone,
	"GET /v1/events":          Anyone,
	"GET /v1/explain":         Anyone,
	"GET /v1/permissions":     Anyone,
	"POST /v1/registration":   RootOrUnregistered,
	"DELETE /v1/registration": RootOrOperator,
	"POST /v1/connect":        RootOrOperator,
	"POST /v1/disconnect":     RootOrOperator,
	"POST /v1/reauth":         RootOrOperator,
	"GET /v1/settings":        Anyone,
	"PATCH /v1/settings":      RootOrOperator,
}

func routeKey(r Route) string { return r.Method + " " + r.Path }

func TestRoutesMatchTheDesignTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Routes() {
		k := routeKey(r)
		if seen[k] {
			t.Errorf("%s is in the table twice", k)
		}
		seen[k] = true
		want, ok := designTable[k]
		if !ok {
			t.Errorf("%s is served but not in DESIGN §4's table", k)
			continue
		}
		if r.Who != want {
			t.Errorf("%s admits %v, DESIGN says %v", k, r.Who, want)
		}
		if !strings.HasPrefix(r.Command, "agentctl ") {
			t.Errorf("%s names no agentctl command for its refusals: %q", k, r.Command)
		}
	}
	for k := range designTable {
		if !seen[k] {
			t.Errorf("%s is in DESIGN §4 but missing from Routes()", k)
		}
	}
}

// Every route of the table has a typed client method, and answers it.
func TestEveryRouteHasAClientMethod(t *testing.T) {
	ts := startServer(t, nil, nil)
	for _, r := range Routes() {
		var err error
		call := func() { err = callRoute(t.Context(), ts.client, r) }
		if r.Who == RootOrUnregistered {
			ts.whileUnregistered(call)
		} else {
			call()
		}
		if err != nil {
			t.Errorf("%s: %v", routeKey(r), err)
		}
	}
}

// callRoute calls r through the client method that serves it.
func callRoute(ctx context.Context, c *Client, r Route) error {
	var err error
	switch routeKey(r) {
	case "GET /v1/status":
		_, err = c.Status(ctx)
	case "GET /v1/session":
		_, err = c.Session(ctx)
	case "GET /v1/events":
		var s *EventStream
		if s, err = c.Events(ctx); err == nil {
			_, err = s.Next()
			s.Close()
		}
	case "GET /v1/explain":
		_, err = c.Explain(ctx, "wiki.acme.test:443", "tcp")
	case "GET /v1/permissions":
		_, err = c.Permissions(ctx)
	case "POST /v1/registration":
		_, err = c.Register(ctx, ipcproto.RegisterRequest{Team: "acme"})
	case "DELETE /v1/registration":
		_, err = c.Leave(ctx)
	case "POST /v1/connect":
		_, err = c.Connect(ctx)
	case "POST /v1/disconnect":
		_, err = c.Disconnect(ctx)
	case "POST /v1/reauth":
		_, err = c.Reauth(ctx, ipcproto.ReauthRequest{})
	case "GET /v1/settings":
		_, err = c.Settings(ctx)
	case "PATCH /v1/settings":
		_, err = c.SetSettings(ctx, ipcproto.Settings{Mode: "tun"})
	default:
		return fmt.Errorf("no client method calls %s", routeKey(r))
	}
	return err
}

const (
	permChildEnv = "ZTAGENT_IPC_PERM_CHILD_SOCKET"
	permPrefix   = "PERM "
	uidOperator  = 65533
	uidConsole   = 65532 // a person logged in here, by the tests' rule
	uidOther     = 65534 // nobody
)

// permResult is what a child reports for one route.
type permResult struct {
	Route  string
	UID    int
	Status int
	Code   string
	Hint   string
}

// permChild runs in a child process with changed credentials: it calls
// every route and prints one result per line.
func permChild(sock string) int {
	c := NewClient(sock)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range Routes() {
		res := permResult{Route: routeKey(r), UID: os.Getuid(), Status: 200}
		if err := callRoute(ctx, c, r); err != nil {
			var apiErr *apierror.Error
			if !errors.As(err, &apiErr) {
				fmt.Fprintf(os.Stderr, "%s: %v\n", routeKey(r), err)
				return 1
			}
			res.Status, res.Code, res.Hint = apiErr.Status, apiErr.Code, apiErr.Hint
		}
		b, _ := json.Marshal(res)
		fmt.Printf("%s%s\n", permPrefix, b)
	}
	return 0
}
