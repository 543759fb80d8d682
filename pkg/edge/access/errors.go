package access

import (
	"errors"
	"net/http"
)

// Error codes RedeemEnrollment and VerifyAppToken return, as the control
// API puts them in {"error":{"code":…}}. They follow OAuth 2.0 (RFC 6749
// §5.2) where OAuth has a word for the case.
const (
	CodeInvalidRequest = "invalid_request"
	CodeInvalidGrant   = "invalid_grant"
	CodeInvalidToken   = "invalid_token"
)

// Error is a refusal explained to a person: Code is stable and
// machine-readable, Message says what was wrong and Hint what to do.
type Error struct {
	Code    string
	Message string
	Hint    string
}

// Error returns the message followed by the hint.
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + "; " + e.Hint
}

// Is makes errors.Is(err, access.ErrInvalidGrant) and the like match on
// Code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Status is the HTTP status an API answers this error with.
func (e *Error) Status() int {
	if e.Code == CodeInvalidToken {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}

// ErrorCode returns Code, for APIs that answer with it.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorHint returns Hint, for APIs that answer with it.
func (e *Error) ErrorHint() string { return e.Hint }

// Sentinels for errors.Is; the errors returned carry a specific message.
var (
	ErrInvalidRequest = &Error{Code: CodeInvalidRequest}
	ErrInvalidGrant   = &Error{Code: CodeInvalidGrant}
	ErrInvalidToken   = &Error{Code: CodeInvalidToken}
)
