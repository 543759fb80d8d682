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
	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/registry"
)

// MaxBody bounds request bodies: every request of the APIs is a small JSON
// object.
const MaxBody = 64 << 10

// Error is a refusal with an HTTP status, answered as
// {"error":{"code","message","hint"}}.
type Error struct {
	Status int
	control.ErrorDetail
}

// Error returns the message and the hint.
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + "; " + e.Hint
}

// Errorf returns an Error with the given status, code, hint and formatted
// message.
func Errorf(status int, code, hint, format string, args ...any) *Error {
	return &Error{Status: status, ErrorDetail: control.ErrorDetail{Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}}
}

// StatusCoder is an error that knows its API code and status, such as the
// team domain's enrollment errors.
type StatusCoder interface {
	error
	Status() int
	ErrorCode() string
}

// Classify turns any error into the Error the API answers with. Errors it
// does not know become a 500 whose message says nothing of the cause (it is
// logged instead), so that internals never reach a client.
func Classify(err error) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var regErr *registry.Error
	if errors.As(err, &regErr) {
		return &Error{Status: regErr.Status(), ErrorDetail: control.ErrorDetail{
			Code: regErr.Code, Message: regErr.Message, Hint: regErr.Hint, User: regErr.User,
		}}
	}
	var sc StatusCoder
	if errors.As(err, &sc) {
		d := control.ErrorDetail{Code: sc.ErrorCode(), Message: sc.Error()}
		var h interface{ ErrorHint() string }
		if errors.As(err, &h) && h.ErrorHint() != "" {
			d.Hint = h.ErrorHint()
			d.Message = strings.TrimSuffix(d.Message, "; "+d.Hint)
		}
		return &Error{Status: sc.Status(), ErrorDetail: d}
	}
	return &Error{Status: http.StatusInternalServerError, ErrorDetail: control.ErrorDetail{
		Code:    control.CodeInternal,
		Message: "the edge failed to handle the request",
		Hint:    "see the edge's log for the cause, then retry",
	}}
}

// WriteError answers with err's status and body, logging errors that are
// the edge's fault (5xx) with their cause.
func WriteError(w http.ResponseWriter, log *zap.Logger, r *http.Request, err error) {
	e := Classify(err)
	if e.Status >= 500 && log != nil {
		log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
	}
	WriteJSON(w, e.Status, control.ErrorBody{Error: e.ErrorDetail})
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
			WriteJSON(w, http.StatusMethodNotAllowed, control.ErrorBody{Error: control.ErrorDetail{
				Code: control.CodeBadRequest, Message: r.Method + " is not allowed on " + r.URL.Path, Hint: "use " + strings.Join(allowed, " or "),
			}})
			return
		}
		WriteJSON(w, http.StatusNotFound, control.ErrorBody{Error: control.ErrorDetail{
			Code: control.CodeNotFound, Message: "no route " + r.Method + " " + r.URL.Path, Hint: "docs/CONTROL-API.md lists the routes",
		}})
	})
}
