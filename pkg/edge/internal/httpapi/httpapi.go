// Package httpapi holds what the edge's JSON APIs (the control API and the
// admin API) share: the error shape of DESIGN §5, bounded JSON bodies,
// bearer tokens and the version header.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/access"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// MaxBody bounds request bodies: every request of the APIs is a small JSON
// object.
const MaxBody = 64 << 10

// Errorf returns a refusal answered with the given status, code, hint and
// formatted message.
func Errorf(status int, code, hint, format string, args ...any) *apierror.Error {
	return apierror.WithStatus(status, code, fmt.Sprintf(format, args...), hint)
}

// statusOf is the HTTP status the edge's APIs answer each code with, for a
// refusal whose maker (the registry, the team domain) left the status to
// the API.
var statusOf = map[string]int{
	registry.CodeOtherUser:       http.StatusConflict,
	registry.CodeKeyInUse:        http.StatusConflict,
	registry.CodeNotAllowedLeave: http.StatusForbidden,
	registry.CodeNotFound:        http.StatusNotFound,
	registry.CodeInvalidToken:    http.StatusUnauthorized, // also access.CodeInvalidToken
	registry.CodeRevoked:         http.StatusUnauthorized,
	registry.CodeLeft:            http.StatusUnauthorized,
	registry.CodeInvalidRequest:  http.StatusBadRequest, // also access.CodeInvalidRequest
	registry.CodePoolExhausted:   http.StatusServiceUnavailable,
	registry.CodeClosed:          http.StatusServiceUnavailable,
	access.CodeInvalidGrant:      http.StatusBadRequest,
}

// Classify returns the refusal the API answers err with, its status set.
// Errors that are not refusals become a 500 whose message says nothing of
// the cause (it is logged instead), so that internals never reach a
// client.
func Classify(err error) *apierror.Error {
	var e *apierror.Error
	if errors.As(err, &e) {
		if e.Status != 0 {
			return e
		}
		cp := *e
		if cp.Status = statusOf[cp.Code]; cp.Status == 0 {
			cp.Status = http.StatusInternalServerError
		}
		return &cp
	}
	return apierror.WithStatus(http.StatusInternalServerError, control.CodeInternal,
		"the edge failed to handle the request", "see the edge's log for the cause, then retry")
}

// WriteError answers with err's status and body, logging errors that are
// the edge's fault (5xx) with their cause.
func WriteError(w http.ResponseWriter, log *zap.Logger, r *http.Request, err error) {
	e := Classify(err)
	if e.Status >= 500 && log != nil {
		log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	}
	WriteJSON(w, e.Status, apierror.Body{Error: *e})
}

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing else to do
}

// DecodeJSON reads r's body (at most MaxBody) into v. Unknown fields are
// accepted, so that a newer agent can talk to an older edge.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return Errorf(http.StatusUnsupportedMediaType, control.CodeBadRequest, "send Content-Type: application/json",
			"the body is %s, not JSON", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return Errorf(http.StatusRequestEntityTooLarge, control.CodeBadRequest, "", "the body is larger than %d bytes", MaxBody)
		case errors.Is(err, io.EOF):
			return Errorf(http.StatusBadRequest, control.CodeBadRequest, "send a JSON object as the body", "the body is empty")
		default:
			return Errorf(http.StatusBadRequest, control.CodeBadRequest, "send one JSON object, as docs/CONTROL-API.md describes", "the body is not valid JSON: %v", err)
		}
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, control.CodeBadRequest, "send exactly one JSON object", "the body has data after the JSON object")
	}
	return nil
}

// BearerToken returns the token of an "Authorization: Bearer …" header as a
// secret.Value that is not registered with the log scrubber: anyone can
// send one, and the scrubber keeps only a bounded number of values.
func BearerToken(r *http.Request) (secret.Value, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return secret.Value{}, Errorf(http.StatusUnauthorized, control.CodeUnauthorized,
			"send Authorization: Bearer <token>", "the request has no Authorization header")
	}
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return secret.Value{}, Errorf(http.StatusUnauthorized, control.CodeUnauthorized,
			"send Authorization: Bearer <token>", "the Authorization header is not a bearer token")
	}
	return secret.Wrap(token), nil
}

// Versioned wraps h so that every response carries the API version header.
func Versioned(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(control.VersionHeader, control.APIVersion)
		h.ServeHTTP(w, r)
	})
}

// Routed wraps mux so that a request no route matches gets the API's JSON
// error (404, or 405 when the path exists for another method) instead of
// the mux's plain text.
func Routed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := mux.Handler(probe); p != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			WriteJSON(w, http.StatusMethodNotAllowed, apierror.Body{Error: apierror.Error{
				Code: control.CodeBadRequest, Message: r.Method + " is not allowed on " + r.URL.Path, Hint: "use " + strings.Join(allowed, " or "),
			}})
			return
		}
		WriteJSON(w, http.StatusNotFound, apierror.Body{Error: apierror.Error{
			Code: control.CodeNotFound, Message: "no route " + r.Method + " " + r.URL.Path, Hint: "docs/CONTROL-API.md lists the routes",
		}})
	})
}
