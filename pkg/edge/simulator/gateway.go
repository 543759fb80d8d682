package simulator

import (
	"github.com/ztagent/ztagent/pkg/edge/controlapi"
	"github.com/ztagent/ztagent/pkg/edge/wg"
)

// gatewayHooks connects the Gateway to the WireGuard server and the
// control API.
type gatewayHooks struct {
	s *Simulator
}

func newGatewayHooks(s *Simulator, _ *config) *gatewayHooks { return &gatewayHooks{s: s} }

func (g *gatewayHooks) flowHook() wg.FlowHook           { return nil }
func (g *gatewayHooks) dnsHook() wg.DNSHook             { return nil }
func (g *gatewayHooks) decisions() controlapi.Decisions { return nil }
func (g *gatewayHooks) prepare(*config) (func(), error) { return func() {}, nil }
