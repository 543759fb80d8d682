package registry

import "github.com/ztagent/ztagent/pkg/apierror"

// Error codes of the registry's refusals (*apierror.Error), as the control and admin APIs return them in
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

// Sentinels for errors.Is; the errors returned carry a specific message.
var (
	ErrOtherUser       = &apierror.Error{Code: CodeOtherUser}
	ErrNotAllowedLeave = &apierror.Error{Code: CodeNotAllowedLeave}
	ErrNotFound        = &apierror.Error{Code: CodeNotFound}
	ErrInvalidToken    = &apierror.Error{Code: CodeInvalidToken}
	ErrRevoked         = &apierror.Error{Code: CodeRevoked}
	ErrLeft            = &apierror.Error{Code: CodeLeft}
	ErrKeyInUse        = &apierror.Error{Code: CodeKeyInUse}
	ErrPoolExhausted   = &apierror.Error{Code: CodePoolExhausted}
	ErrInvalidRequest  = &apierror.Error{Code: CodeInvalidRequest}
	ErrClosed          = &apierror.Error{Code: CodeClosed}
)

func notFound(id string) error {
	return &apierror.Error{Code: CodeNotFound, Message: "no device with ID " + id,
		Hint: "list the registered devices with `edged devices list`"}
}

func invalid(msg, hint string) error {
	return &apierror.Error{Code: CodeInvalidRequest, Message: msg, Hint: hint}
}

var errClosed = &apierror.Error{Code: CodeClosed, Message: "the device registry is closed",
	Hint: "the edge is shutting down; retry once it is back"}
