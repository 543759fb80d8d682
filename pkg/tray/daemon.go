package tray

import (
	"context"

	"github.com/ztagent/ztagent/pkg/ipc"
	"github.com/ztagent/ztagent/pkg/ipc/browseprompt"
)

// DaemonClient is the Daemon of agentd's IPC client.
type DaemonClient struct{ *ipc.Client }

var _ Daemon = DaemonClient{}

// Events opens agentd's event stream.
func (d DaemonClient) Events(ctx context.Context) (browseprompt.Stream, error) {
	s, err := d.Client.Events(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}
