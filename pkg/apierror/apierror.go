// Package apierror is the one error type of ztagent's HTTP APIs, the
// edge's control and admin APIs and agentd's IPC: a refusal explained to a
// person, with a stable code for programs. Servers answer it as
// {"error":{"code","message","hint"}} and clients decode that answer back
// into the same type, so a refusal keeps its code and hint from the
// registry that made it to the person who reads it.
package apierror

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Error is a refusal explained to a person: Code is stable and
// machine-readable, Message says what happened and Hint what to do, such
// as the command to run and as whom.
type Error struct {
	// Status is the HTTP status the error was answered with, on the
	// client side; on the server side, zero lets the server choose it
	// from Code, which is the usual way.
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	// User names the user a device belongs to, for a refusal because it
	// belongs to another (S13).
	User string `json:"user,omitempty"`
}

// New returns an Error with the given code, message and hint, whose status
// the server chooses from the code.
func New(code, message, hint string) *Error {
	return &Error{Code: code, Message: message, Hint: hint}
}

// WithStatus returns an Error that is answered with status whatever its
// code, such as a refusal relayed from another API with the status that
// API chose.
func WithStatus(status int, code, message, hint string) *Error {
	return &Error{Status: status, Code: code, Message: message, Hint: hint}
}

// Error returns the message followed, after a semicolon, by the hint.
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + "; " + e.Hint
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, registry.ErrRevoked) and the like match on Code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// HasCode reports whether err is, or wraps, an *Error with the given code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Body is every error answer: the error under "error".
type Body struct {
	Error Error `json:"error"`
}

// Decode returns the Error an API answered with status and body. A body
// that is not an error answer, such as a proxy's HTML page, becomes an
// Error with code "http_<status>" whose message is fallback (or, when
// fallback is empty, the status), so that nothing of an unknown body is
// shown as if the API had said it.
func Decode(status int, body []byte, fallback string) *Error {
	var b Body
	if json.Unmarshal(body, &b) == nil && b.Error.Code != "" {
		e := b.Error
		e.Status = status
		if e.Message == "" {
			e.Message = "the server answered HTTP " + strconv.Itoa(status) + " (" + e.Code + ")"
		}
		return &e
	}
	if fallback == "" {
		fallback = "the server answered HTTP " + strconv.Itoa(status)
	}
	return &Error{Status: status, Code: "http_" + strconv.Itoa(status), Message: fallback}
}
