package registry

import (
	"errors"
	"net/http"
)

// Error codes, as the control and admin APIs return them in
// {"error":{"code":…}}.
const (
	CodeOtherUser       = "device_registered_to_other_user"
	CodeNotAllowedLeave = "not_allowed_to_leave"
	CodeNotFound        = "device_not_found"
	CodeInvalidToken    = "invalid_token"
	CodeRevoked         = "device_revoked"
	CodeLeft            = "device_left"
	CodeKeyInUse        = "wg_key_in_use"
	CodePoolExhausted   = "address_pool_exhausted"
	CodeInvalidRequest  = "invalid_request"
	CodeClosed          = "registry_closed"
)

// Error is a refusal the registry explains to a person: Code is stable and
// machine-readable, Message says what happened and Hint what to do. User is
// set for CodeOtherUser and names the user the device belongs to (S13).
type Error struct {
	Code    string
	Message string
	Hint    string
	User    string
}

// Error returns the message followed by the hint.
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + "; " + e.Hint
}

// Is makes errors.Is(err, registry.ErrRevoked) and the like match on Code.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Status is the HTTP status the control API answers this error with.
func (e *Error) Status() int {
	switch e.Code {
	case CodeOtherUser, CodeKeyInUse:
		return http.StatusConflict
	case CodeNotAllowedLeave:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeInvalidToken, CodeRevoked, CodeLeft:
		return http.StatusUnauthorized
	case CodeInvalidRequest:
		return http.StatusBadRequest
	default:
		return http.StatusServiceUnavailable
	}
}

// Sentinels for errors.Is; the errors returned carry a specific message.
var (
	ErrOtherUser       = &Error{Code: CodeOtherUser}
	ErrNotAllowedLeave = &Error{Code: CodeNotAllowedLeave}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrInvalidToken    = &Error{Code: CodeInvalidToken}
	ErrRevoked         = &Error{Code: CodeRevoked}
	ErrLeft            = &Error{Code: CodeLeft}
	ErrKeyInUse        = &Error{Code: CodeKeyInUse}
	ErrPoolExhausted   = &Error{Code: CodePoolExhausted}
	ErrInvalidRequest  = &Error{Code: CodeInvalidRequest}
	ErrClosed          = &Error{Code: CodeClosed}
)

func notFound(id string) error {
	return &Error{Code: CodeNotFound, Message: "no device with ID " + id,
		Hint: "list the registered devices with `edged devices list`"}
}

func invalid(msg, hint string) error {
	return &Error{Code: CodeInvalidRequest, Message: msg, Hint: hint}
}

var errClosed = &Error{Code: CodeClosed, Message: "the device registry is closed",
	Hint: "the edge is shutting down; retry once it is back"}
