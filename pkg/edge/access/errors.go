package access

import (
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

// Error codes (of *apierror.Error) RedeemEnrollment and VerifyAppToken return, as the control
// API puts them in {"error":{"code":…}}. They follow OAuth 2.0 (RFC 6749
// §5.2) where OAuth has a word for the case.
const (
	CodeInvalidRequest = "invalid_request"
	CodeInvalidGrant   = "invalid_grant"
	CodeInvalidToken   = "invalid_token"
	// CodeEnrollmentNotPermitted is control.CodeEnrollmentNotPermitted:
	// the device enrollment permissions leave the person out.
	CodeEnrollmentNotPermitted = control.CodeEnrollmentNotPermitted
)

// Sentinels for errors.Is; the errors returned carry a specific message.
var (
	ErrInvalidRequest = &apierror.Error{Code: CodeInvalidRequest}
	ErrInvalidGrant   = &apierror.Error{Code: CodeInvalidGrant}
	ErrInvalidToken   = &apierror.Error{Code: CodeInvalidToken}
)
