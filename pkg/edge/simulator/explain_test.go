package simulator

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ztagent/ztagent/pkg/control"
	"github.com/ztagent/ztagent/pkg/edge/gateway"
	"github.com/ztagent/ztagent/pkg/policy"
)

// TestExplanationWireFormIsTheGateways: the control API's Explanation
// carries every field of the Gateway's trace under the same JSON names,
// and the names the agent acts on are the Gateway's own.
func TestExplanationWireFormIsTheGateways(t *testing.T) {
	if policy.ReasonSessionExpired != control.ReasonSessionExpired || string(policy.FilterL4) != control.FilterL4 ||
		string(policy.ActionBlock) != control.ActionBlock {
		t.Fatalf("control's filter/action/reason names differ from the policy engine's")
	}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ex := gateway.Explanation{
		DeviceID: "dev", User: "alice@example.com", Groups: []string{"engineering"}, Dst: "wiki:80", Protocol: "tcp",
		AuthTime: t0, ServerTime: t0.Add(2 * time.Hour), SessionAge: "2h0m0s",
		Action: policy.ActionBlock, Reason: string(policy.ReasonSessionExpired), PolicyID: "p", PolicyName: "Wiki",
		Stages: []gateway.Stage{{
			Filter: policy.FilterL4, Flow: "net.dst.port=80", Action: policy.ActionBlock, Reason: "session_expired",
			PolicyID: "p", PolicyName: "Wiki", Note: "n",
			Trace: policy.Trace{{RuleID: "p", Name: "Wiki", Precedence: 10, Action: policy.ActionAllow, Outcome: "session_expired", Session: "2h > 1h30m"}},
		}},
	}
	want, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(explanationOf(ex))
	if err != nil {
		t.Fatal(err)
	}
	var w, g any
	if json.Unmarshal(want, &w) != nil || json.Unmarshal(got, &g) != nil {
		t.Fatal("unreadable JSON")
	}
	if wb, _ := json.Marshal(w); string(wb) != mustJSON(t, g) {
		t.Fatalf("the control API's trace differs from the Gateway's:\n got %s\nwant %s", got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
