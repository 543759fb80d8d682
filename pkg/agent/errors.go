package agent

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/ipc/ipcproto"
)

// errorf returns a refusal a person reads: what happened and what to do.
// The IPC server answers it with the status of its code. The text is
// scrubbed of registered secrets (SEC5).
func errorf(code, msg, hint string) *apierror.Error {
	return apierror.New(code, secret.Scrub(msg), secret.Scrub(hint))
}

// edgeError turns a failed control API call into an IPC error: the edge's
// own refusal when it answered, edge_unreachable when it did not.
func (a *Agent) edgeError(what string, err error) *apierror.Error {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		if ae.Status == 0 {
			// agentd's own refusal: only a decoded answer carries a status.
			return ae
		}
		status := ae.Status
		if status >= 500 {
			status = http.StatusBadGateway
		}
		return apierror.WithStatus(status, ae.Code, secret.Scrub(fmt.Sprintf("the edge refused to %s: %s", what, ae.Message)), secret.Scrub(ae.Hint))
	}
	return errorf(ipcproto.CodeEdgeUnreachable,
		fmt.Sprintf("could not %s: the edge at %s did not answer (%v)", what, a.opts.EdgeAPI, err),
		"check the network and that the edge is up; agentd keeps retrying the control stream by itself")
}

// edgeMessage returns the message of the edge's refusal err.
func edgeMessage(err error) string {
	var ae *apierror.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}
