package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// A refusal made by the registry or the team domain, wrapped as callers
// wrap it, is answered with the status of its code, its message, hint and
// user intact; anything else is a 500 that says nothing of its cause.
func TestWriteErrorAnswersTheRefusalItsStatus(t *testing.T) {
	other := &apierror.Error{Code: registry.CodeOtherUser, Message: "registered to alice", Hint: "ask alice", User: "alice@acme.test"}
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("register: %w", other), http.StatusConflict, registry.CodeOtherUser},
		{registry.ErrKeyInUse, http.StatusConflict, registry.CodeKeyInUse},
		{registry.ErrNotAllowedLeave, http.StatusForbidden, registry.CodeNotAllowedLeave},
		{registry.ErrNotFound, http.StatusNotFound, registry.CodeNotFound},
		{registry.ErrRevoked, http.StatusUnauthorized, registry.CodeRevoked},
		{registry.ErrLeft, http.StatusUnauthorized, registry.CodeLeft},
		{access.ErrInvalidToken, http.StatusUnauthorized, access.CodeInvalidToken},
		{access.ErrInvalidGrant, http.StatusBadRequest, access.CodeInvalidGrant},
		{access.ErrInvalidRequest, http.StatusBadRequest, access.CodeInvalidRequest},
		{registry.ErrClosed, http.StatusServiceUnavailable, registry.CodeClosed},
		{Errorf(http.StatusTeapot, "teapot", "", "short and stout"), http.StatusTeapot, "teapot"},
		{&apierror.Error{Code: "nobody_knows"}, http.StatusInternalServerError, "nobody_knows"},
		{errors.New("disk on fire at /var/lib/x"), http.StatusInternalServerError, "internal"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		WriteError(rec, nil, httptest.NewRequest(http.MethodGet, "/", nil), c.err)
		got := apierror.Decode(rec.Code, rec.Body.Bytes(), "")
		if rec.Code != c.status || got.Code != c.code {
			t.Errorf("%v: answered %d %s, want %d %s", c.err, rec.Code, got.Code, c.status, c.code)
		}
	}

	rec := httptest.NewRecorder()
	WriteError(rec, nil, httptest.NewRequest(http.MethodGet, "/", nil), fmt.Errorf("x: %w", other))
	var b apierror.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error != (apierror.Error{Code: other.Code, Message: other.Message, Hint: other.Hint, User: other.User}) {
		t.Fatalf("answer %s (%v), want the refusal's fields intact", rec.Body, err)
	}
	if other.Status != 0 {
		t.Fatalf("answering set the shared refusal's status to %d", other.Status)
	}

	rec = httptest.NewRecorder()
	WriteError(rec, nil, httptest.NewRequest(http.MethodGet, "/", nil), errors.New("disk on fire at /var/lib/x"))
	if got := rec.Body.String(); strings.Contains(got, "disk") || strings.Contains(got, "/var/lib") {
		t.Fatalf("a 500 shows its cause: %s", got)
	}
}
