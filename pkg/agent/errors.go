package agent

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// errorf returns an IPC error a person reads: what happened and what to do.
// The text is scrubbed of registered secrets (SEC5).
func errorf(status int, code, msg, hint string) *ipc.Error {
	return &ipc.Error{Status: status, Detail: ipcproto.Error{Code: code, Message: secret.Scrub(msg), Hint: secret.Scrub(hint)}}
}

// edgeError turns a failed control API call into an IPC error: the edge's
// own refusal when it answered, edge_unreachable when it did not.
func (a *Agent) edgeError(what string, err error) *ipc.Error {
	var ie *ipc.Error
	if errors.As(err, &ie) {
		return ie
	}
	var ae *apierror.Error
	if errors.As(err, &ae) {
		status := ae.Status
		if status >= 500 {
			status = http.StatusBadGateway
		}
		return errorf(status, ae.Code, fmt.Sprintf("the edge refused to %s: %s", what, ae.Message), ae.Hint)
	}
	return errorf(http.StatusServiceUnavailable, ipcproto.CodeEdgeUnreachable,
		fmt.Sprintf("could not %s: the edge at %s did not answer (%v)", what, a.opts.EdgeAPI, err),
		"check the network and that the edge is up; agentd keeps retrying the control stream by itself")
}
